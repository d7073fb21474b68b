"""spaCy components of the classifier; importing this module registers their factories."""

from classifiers.components.place_linker import PlaceLinker, make_place_linker  # noqa: F401
from classifiers.components.theme_matcher import ThemeMatcher, make_theme_matcher  # noqa: F401
