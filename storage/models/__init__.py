"""Every table Rivet owns; importing this package registers them all on `Base.metadata`."""

from storage.models.admin import AssetLink, Broadcast, BroadcastDelivery, WorkOrderAlert
from storage.models.base import Base, UtcDateTime, utcnow
from storage.models.billing import BillingCustomer, BillingSubscription, StripeEvent
from storage.models.cmms import (
    CmmsAsset,
    CmmsAttachment,
    CmmsNote,
    CmmsWorkOrder,
    WorkOrderRequest,
)
from storage.models.core import (
    AuditEntry,
    FsmRecord,
    OnboardingToken,
    OutboxMessage,
    ProcessedUpdate,
    User,
)
from storage.models.jobs import WorkOrderWatch
from storage.models.prints import PrintFile, PrintQuestion

__all__ = [
    "AssetLink",
    "AuditEntry",
    "Base",
    "BillingCustomer",
    "BillingSubscription",
    "Broadcast",
    "BroadcastDelivery",
    "CmmsAsset",
    "CmmsAttachment",
    "CmmsNote",
    "CmmsWorkOrder",
    "FsmRecord",
    "OnboardingToken",
    "OutboxMessage",
    "PrintFile",
    "PrintQuestion",
    "ProcessedUpdate",
    "StripeEvent",
    "User",
    "UtcDateTime",
    "WorkOrderAlert",
    "WorkOrderRequest",
    "WorkOrderWatch",
    "utcnow",
]
