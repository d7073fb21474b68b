"""Reports for analysts: one module per report (see STYLE.md)."""
