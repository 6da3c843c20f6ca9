"""rehearsal: a dress rehearsal of the whole money loop against a payment provider.

charge -> payment.succeeded -> refund -> payment.refunded -> subscribe -> renewal
-> cancel -> subscription.cancelled, each transition asserted through a signed webhook
and through the provider's API.
"""

__version__ = "0.1.0"
