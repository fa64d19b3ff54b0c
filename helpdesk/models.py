"""Agents (Django users), teams and roles."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AgentManager(BaseUserManager["Agent"]):
    def create_user(self, email: str, password: str | None = None, **extra: Any) -> Agent:
        if not email:
            raise ValueError("An agent needs an e-mail address")
        agent = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            agent.set_password(password)
        else:
            agent.set_unusable_password()
        agent.save(using=self._db)
        return agent

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> Agent:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("role", Agent.Role.ADMIN)
        return self.create_user(email, password, **extra)


class Agent(AbstractBaseUser, PermissionsMixin):
    class Role(models.TextChoices):
        AGENT = "agent", _("Agent")
        SUPERVISOR = "supervisor", _("Supervisor")
        ADMIN = "admin", _("Admin")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(_("e-mail"), unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.AGENT)
    phone = models.CharField(
        _("phone"), max_length=32, blank=True, help_text=_("E.164; rung for phone calls")
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[AgentManager] = AgentManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ("email",)

    def __str__(self) -> str:
        return self.name or self.email

    @property
    def display_name(self) -> str:
        return self.display_name_of(self.name, self.email)

    @staticmethod
    def display_name_of(name: str, email: str) -> str:
        """display_name from the two columns (for rows read with .values())."""
        return name or email.split("@")[0]

    @property
    def sees_all_teams(self) -> bool:
        return self.role in (self.Role.SUPERVISOR, self.Role.ADMIN) or self.is_superuser


class Team(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100, unique=True)
    members = models.ManyToManyField(Agent, related_name="teams", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, agent__is_active=True)


class ApiToken(models.Model):
    """A personal API token: `Authorization: Bearer <token>` acts as its agent.

    Only the SHA-256 of the token is stored; the token itself is shown once, when
    it is created (helpdesk.tokens.create_token).
    """

    class Scope(models.TextChoices):
        READ = "read", _("Read only")
        WRITE = "write", _("Read and write")

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100, blank=True)
    # The first characters of the token, so an agent can tell their tokens apart.
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(default=timezone.now)
    # Updated at most once a minute (helpdesk.authentication), not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = _("API token")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.agent})"

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE
