"""The web component: the dashboard, the REST API and /metrics (see DESIGN.md)."""
