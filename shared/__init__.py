"""Common code of the Velkommen services: events, Kafka, database, settings. Nothing service-specific."""
