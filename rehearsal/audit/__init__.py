"""The go-live audit: the merchant's own webhook endpoint and keys, checked against the
provider's go-live checklist (the seeds in ../shared/seeds/), item by item.

`rehearsal audit endpoint` plays the provider: it sends signed probe events, built and
signed exactly as the provider would, to the merchant's URL and judges each answer.
`rehearsal audit keys` reads the environment and scans a git repository for committed
secrets. Neither moves money, and neither prints, stores or reports a secret. The last
result of each is kept in the state folder, where `rehearsal checklist` reads it.
"""
