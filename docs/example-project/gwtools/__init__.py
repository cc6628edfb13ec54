"""A site's own tools for its innovaphone gateways."""
