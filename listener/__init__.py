"""krimp-listener: social-media listening for Dutch municipalities in shrinking regions."""

__version__ = "0.1.0"
