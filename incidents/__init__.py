"""The incident record: numbering, store, routing rules, the push to city, county and station."""
