"""API tokens in the admin: staff see who holds which token, since when and until when, and
revoke one by deleting it; the secret is never shown (only its digest is stored)."""

from django.contrib import admin
from django.http import HttpRequest
from knox.models import AuthToken

from annotation_site.accounts.tokens import token_shown_key

admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("shown_key", "user", "created", "expiry")
    list_select_related = ("user",)
    list_filter = ("created", "expiry")
    search_fields = ("user__username",)
    fields = ("shown_key", "user", "created", "expiry")
    readonly_fields = fields
    ordering = ("-created",)

    @admin.display(description="token")
    def shown_key(self, obj: AuthToken) -> str:
        return token_shown_key(obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens come from a client's login

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
