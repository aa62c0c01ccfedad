"""Welcome pack: a welcome letter for every newcomer, chosen for their household, in their language."""
