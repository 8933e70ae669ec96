from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save, pre_save


class AccountsConfig(AppConfig):
    name = "annotation_site.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from annotation_site.accounts import tokens

        # A password change or a deactivation revokes every API token of the user.
        pre_save.connect(
            tokens.user_credentials_note,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="accounts.user_credentials_note",
        )
        post_save.connect(
            tokens.user_tokens_revoke_if_needed,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="accounts.user_tokens_revoke_if_needed",
        )
