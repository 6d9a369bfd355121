"""Search: the SearchBackend protocol, record -> search document, Tantivy and Elasticsearch."""
