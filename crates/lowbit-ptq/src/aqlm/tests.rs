// unit tests (filled below)
