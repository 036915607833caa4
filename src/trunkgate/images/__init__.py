"""Images: recipes built into read-only roots that nodes boot from, rebuilt
daily, kept a few builds deep and handed to each provider that uses them.
Records and pure decisions here; the builder component does the I/O."""
