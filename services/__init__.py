"""The four Velkommen services; each owns its own database and shares only events."""
