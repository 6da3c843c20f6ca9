"""What PayMongo documents that the simulator's PayMongo dialect answers to: paths, headers,
limits and the values a request may carry.

Written from PayMongo's docs and official clients (sources beside each value, and in
docs/providers/paymongo.md), never imported from the adapter (rehearsal/providers/): were
both to share one mistake, the rehearsal could not notice it. A test compares the two.
"""

from __future__ import annotations

from rehearsal.simulator.paymongo.cards import TEST_CARD_BY_NUMBER, Card, full_year

__all__ = ["TEST_CARD_BY_NUMBER", "Card", "full_year"]

# https://developers.paymongo.com/reference/idempotent-requests: "UUID v4 or any random
# string with high entropy, up to 255 characters".
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255

# Paths: the API reference and the official clients (paymongo/paymongo-php src/Services/,
# paymongo/paymongo-node src/services/).
PAYMENT_INTENTS = "/v1/payment_intents"
PAYMENT_INTENT = "/v1/payment_intents/{id}"
ATTACH = "/v1/payment_intents/{id}/attach"
PAYMENT_METHODS = "/v1/payment_methods"
PAYMENT_METHOD = "/v1/payment_methods/{id}"
PAYMENTS = "/v1/payments"  # list: paymongo-php PaymentService::all
PAYMENT = "/v1/payments/{id}"
REFUNDS = "/v1/refunds"  # create; list: paymongo-node RefundService.all
REFUND = "/v1/refunds/{id}"
PLANS = "/v1/plans"  # https://developers.paymongo.com/docs/payment-acceptance-subscriptions
PLAN = "/v1/plans/{id}"
CUSTOMERS = "/v1/customers"
CUSTOMER = "/v1/customers/{id}"
SUBSCRIPTIONS = "/v1/subscriptions"
SUBSCRIPTION = "/v1/subscriptions/{id}"
CANCEL = "/v1/subscriptions/{id}/cancel"
TEST_CYCLE = "/v1/subscriptions/{id}/test_cycle"  # .../reference/trigger-a-new-subscription-cycle
INVOICES = "/v1/invoices"  # "List all Invoices"
WEBHOOKS = "/v1/webhooks"
WEBHOOK = "/v1/webhooks/{id}"
WEBHOOK_ENABLE = "/v1/webhooks/{id}/enable"
WEBHOOK_DISABLE = "/v1/webhooks/{id}/disable"

# List pages (`limit`, `before`, `after`; `{"data": [...], "has_more"}`): the official
# clients read `has_more`; the cursors and the default of 10 are third-party descriptions
# (pub.dev paymongo_sdk PaymentListQueryParams, luigel/laravel-paymongo). The maximum of
# 100 is ASSUMED.
LIST_LIMIT_DEFAULT = 10
LIST_LIMIT_MAX = 100

# Values.
MIN_AMOUNT = 2000  # centavos: "amount must be at least 2000." (developer-tools-error-handling)
MIN_REFUND_AMOUNT = 100  # https://developers.paymongo.com/v1/reference/refund-resource
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "others")  # same page
# luigel/laravel-paymongo tests/Feature/SubscriptionServiceTest.php (third party).
CANCELLATION_REASONS = ("too_expensive", "missing_features", "switched_service", "unused", "other")
THREE_DS_STATUS = "awaiting_next_action"  # .../docs/card-integration-test-cases
