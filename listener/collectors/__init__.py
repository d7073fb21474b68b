"""Collectors: one module per platform, registered by ``kind`` (see ``base.register``)."""
