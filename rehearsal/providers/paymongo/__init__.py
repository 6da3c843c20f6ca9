"""PayMongo: the Provider protocol over PayMongo's JSON:API (api.paymongo.com/v1)."""
