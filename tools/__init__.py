"""Command lines over the layers below: ``ipgwsim`` (and later ``gwload``)."""
