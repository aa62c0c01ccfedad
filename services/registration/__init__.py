"""Registration: Borgerservice registers a newcomer's arrival; publishes NewcomerArrived through an outbox."""
