"""The agent inbox (HTML): thin views over listing, timeline, composer and actions.

Every object is fetched through access.py (404 when the agent may not see it);
every change goes through conversations.actions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import transaction
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from conversations import access, actions, canned, composer, listing, refdata, search, timeline
from conversations.identities import InvalidIdentity, normalize
from conversations.inbound import AttachmentRef
from conversations.models import (
    Channel,
    Contact,
    Conversation,
    Entry,
    Identity,
    IdentityKind,
    Notification,
)
from helpdesk.models import Agent, Team


def _agent(request: HttpRequest) -> Agent:
    user = request.user
    assert isinstance(user, Agent)  # noqa: S101 - login_required ran first
    return user


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def _done(request: HttpRequest, conversation: Conversation, error: str = "") -> HttpResponse:
    """Answer a form post: JSON for the inbox's fetch calls, else back to the page."""
    if _wants_json(request):
        if error:
            return JsonResponse({"ok": False, "error": error}, status=400)
        return JsonResponse({"ok": True})
    if error:
        messages.error(request, error)
    return redirect("conversations:detail", conversation.pk)


def _static_nav() -> dict[str, Any]:
    """The navigation entries that cost no query."""
    return {
        "nav_channels": Channel.choices,
        "nav_statuses": [("active", _("Active")), *Conversation.Status.choices],
    }


def _nav(agent: Agent) -> dict[str, Any]:
    return {
        "nav_teams": refdata.visible_teams(agent),
        "nav_inboxes": refdata.active_inboxes(),
        "nav_labels": refdata.labels(),
        **_static_nav(),
    }


# --- the list ---------------------------------------------------------------------

# The navigation counters aggregate every active conversation the agent can see:
# about 20 ms at 100,000 conversations, more than the rest of the page's queries
# together. Rendered on every list page, they may lag this many seconds.
COUNTERS_TTL_SECONDS = 5


def _counters(agent: Agent) -> dict[str, int]:
    key = f"inbox:counters:{agent.pk}"
    cached: dict[str, int] | None = cache.get(key)
    if cached is None:
        cached = listing.counters(agent)
        cache.set(key, cached, COUNTERS_TTL_SECONDS)
    return cached


@login_required
@require_GET
def conversation_list(request: HttpRequest) -> HttpResponse:
    agent = _agent(request)
    q = listing.ListQuery.from_params(request.GET.dict())
    try:
        result = listing.page(agent, q)
    except listing.BadCursor:
        return HttpResponseBadRequest(_("That page link is not valid any more."))
    context = {
        "page": result,
        "q": q,
        "counters": _counters(agent),
        "next_url": (
            "?" + urlencode({**q.params(), "after": result.next_cursor})
            if result.next_cursor
            else ""
        ),
        "sort_links": {s: "?" + urlencode(q.params(sort=s)) for s in listing.SORTS},
        "view_links": {v: "?" + urlencode(q.params(view=v)) for v in listing.VIEWS},
        "agents": refdata.active_agents(),
        **_nav(agent),
    }
    template = (
        "conversations/snippets/rows.html"
        if request.GET.get("fragment")
        else "conversations/list.html"
    )
    return render(request, template, context)


@login_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    agent = _agent(request)
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()][:200]
    action = request.POST.get("action", "")
    back = request.POST.get("next") or reverse("conversations:list")
    if not back.startswith("/"):
        back = reverse("conversations:list")
    chosen = list(access.conversations_for_agent(agent).filter(pk__in=ids))
    if not chosen:
        messages.error(request, _("Select at least one conversation."))
        return HttpResponseRedirect(back)
    try:
        with transaction.atomic():
            if action == "resolve":
                for conversation in chosen:
                    actions.set_status(conversation, agent, Conversation.Status.RESOLVED)
            elif action == "assign":
                assignee = _assignee(request.POST.get("assignee", ""), agent)
                for conversation in chosen:
                    actions.assign(conversation, agent, assignee=assignee)
            elif action == "label":
                name = request.POST.get("label", "").strip()
                if not name:
                    raise actions.ActionError(_("Type a label."))
                labels = {
                    c.pk: [lab.name for lab in c.labels.all()]
                    for c in access.conversations_for_agent(agent)
                    .filter(pk__in=ids)
                    .prefetch_related("labels")
                }
                for conversation in chosen:
                    actions.set_labels(conversation, agent, [*labels[conversation.pk], name])
            else:
                raise actions.ActionError(_("Unknown bulk action."))
    except actions.ActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Updated %(n)d conversations.") % {"n": len(chosen)})
    return HttpResponseRedirect(back)


def _assignee(value: str, agent: Agent) -> Agent | None:
    if value in ("", "none"):
        return None
    if value == "me":
        return agent
    try:
        return Agent.objects.get(pk=int(value), is_active=True)
    except (Agent.DoesNotExist, ValueError):
        raise actions.ActionError(_("No such agent.")) from None


# --- one conversation --------------------------------------------------------------


def _inbox_infos() -> list[composer.InboxInfo]:
    from channels_in.registry import adapter_class

    infos = []
    for inbox in refdata.active_inboxes():
        try:
            channels = adapter_class(inbox.kind).channels
        except (LookupError, ImportError, AttributeError):
            continue  # a kind whose adapter isn't installed: nothing to send with
        infos.append(composer.InboxInfo(inbox.pk, inbox.name, inbox.kind, channels, inbox))
    return infos


def _reason_for(inbox: composer.InboxInfo, channel: str, contact_id: int) -> str:
    from channels_in.registry import adapter_for

    try:
        return adapter_for(inbox.obj).unavailable_reason(channel, contact_id)
    except Exception:  # noqa: BLE001 - an adapter bug must not break the page
        return _("The %(inbox)s inbox could not be asked.") % {"inbox": inbox.name}


def _channel_options(
    conversation: Conversation, identities: list[Identity]
) -> list[composer.ChannelOption]:
    return composer.channel_options(
        conversation, {i.kind for i in identities}, _inbox_infos(), _reason_for
    )


def _call_url(conversation: Conversation, identities: list[Identity]) -> str:
    """The Twilio click-to-call endpoint, when a phone and a Twilio inbox exist."""
    if not any(i.kind == IdentityKind.PHONE for i in identities):
        return ""
    if not any(inbox.kind == "twilio" for inbox in refdata.active_inboxes()):
        return ""
    try:
        return reverse("channels_in:twilio_call", args=[conversation.pk])
    except NoReverseMatch:
        return ""  # the Twilio channel isn't installed


@login_required
@require_GET
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    agent = _agent(request)
    conversation = access.get_conversation_for_agent(agent, pk)
    contact = conversation.contact
    identities = list(contact.identities.all())
    history = timeline.build(contact, conversation, request.GET.get("before", ""))
    others = list(
        Conversation.objects.filter(contact=contact)
        .exclude(pk=conversation.pk)
        .order_by("-last_message_at", "-id")
        .only("id", "status", "subject", "last_message_at", "first_channel", "created_at")[:20]
    )
    options = _channel_options(conversation, identities)
    context = {
        "conversation": conversation,
        "contact": contact,
        "identities": identities,
        "timeline": history,
        "others": others,
        "labels": list(conversation.labels.all()),
        "options": options,
        "default_option": next((o for o in options if o.default), None),
        "agents": refdata.active_agents(),
        "teams": refdata.teams(),
        "statuses": Conversation.Status.choices,
        "priorities": Conversation.Priority.choices,
        "identity_kinds": IdentityKind.choices,
        "canned": canned.for_composer(conversation, agent),
        "call_url": _call_url(conversation, identities),
        "attributes": sorted(contact.attributes.items()),
        **_static_nav(),
    }
    return render(request, "conversations/detail.html", context)


@login_required
@require_GET
def entries_fragment(request: HttpRequest, pk: int) -> HttpResponse:
    """Entries newer than ?after= rendered as timeline HTML (live updates, catch-up)."""
    agent = _agent(request)
    conversation = access.get_conversation_for_agent(agent, pk)
    entries = timeline.entries_after(conversation, request.GET.get("after", ""))
    return render(
        request,
        "conversations/snippets/entries.html",
        {"entries": entries, "conversation": conversation},
    )


@login_required
@require_POST
def reply(request: HttpRequest, pk: int) -> HttpResponse:
    agent = _agent(request)
    conversation = access.get_conversation_for_agent(agent, pk)
    identities = list(conversation.contact.identities.all())
    options = {o.channel: o for o in _channel_options(conversation, identities)}
    channel = request.POST.get("channel", "")
    option = options.get(channel)
    if option is None:
        return _done(request, conversation, _("Pick a channel to reply on."))
    if not option.available:
        return _done(request, conversation, option.reason)
    refs = []
    try:
        for upload in request.FILES.getlist("attachments")[:10]:
            content_type = upload.content_type or "application/octet-stream"
            actions.check_attachment(upload.name or "file", content_type, upload.size or 0)
            refs.append(
                AttachmentRef(
                    filename=upload.name or "file",
                    content_type=content_type,
                    content=upload.read(),
                )
            )
        cc = [c.strip() for c in request.POST.get("cc", "").split(",") if c.strip()]
        for address in cc:
            normalize(IdentityKind.EMAIL, address)
        actions.reply(
            conversation,
            agent,
            request.POST.get("body", ""),
            via=channel,
            inbox_id=option.inbox_id,
            subject=request.POST.get("subject", "") if channel == Channel.EMAIL else "",
            attachments=refs,
            parameters={"cc": cc} if cc else None,
        )
    except actions.ActionError as exc:
        return _done(request, conversation, str(exc))
    except InvalidIdentity as exc:
        return _done(request, conversation, _("CC: %(error)s") % {"error": exc})
    return _done(request, conversation)


@login_required
@require_POST
def note(request: HttpRequest, pk: int) -> HttpResponse:
    agent = _agent(request)
    conversation = access.get_conversation_for_agent(agent, pk)
    try:
        actions.add_note_with_mentions(conversation, agent, request.POST.get("body", ""))
    except actions.ActionError as exc:
        return _done(request, conversation, str(exc))
    return _done(request, conversation)


@login_required
@require_POST
def assign(request: HttpRequest, pk: int) -> HttpResponse:
    agent = _agent(request)
    conversation = access.get_conversation_for_agent(agent, pk)
    try:
        assignee = _assignee(request.POST.get("assignee", ""), agent)
        team = None
        team_id = request.POST.get("team", "")
        if team_id and team_id != "keep":
            team = get_object_or_404(Team, pk=int(team_id)) if team_id.isdigit() else None
        actions.assign(
            conversation, agent, assignee=assignee, team=team, keep_team=team_id in ("", "keep")
        )
    except actions.ActionError as exc:
        return _done(request, conversation, str(exc))
    return _done(request, conversation)


@login_required
@require_POST
def status(request: HttpRequest, pk: int) -> HttpResponse:
    agent = _agent(request)
    conversation = access.get_conversation_for_agent(agent, pk)
    new = request.POST.get("status", "")
    until: datetime | None = None
    if new == Conversation.Status.SNOOZED:
        raw = request.POST.get("snoozed_until", "")
        until = parse_datetime(raw) if raw else None
        if until is not None and timezone.is_naive(until):
            until = timezone.make_aware(until)
        if until is None:
            return _done(request, conversation, _("Pick a time to snooze until."))
    try:
        actions.set_status(conversation, agent, new, snoozed_until=until)
    except actions.ActionError as exc:
        return _done(request, conversation, str(exc))
    return _done(request, conversation)


@login_required
@require_POST
def priority(request: HttpRequest, pk: int) -> HttpResponse:
    agent = _agent(request)
    conversation = access.get_conversation_for_agent(agent, pk)
    try:
        actions.set_priority(conversation, agent, request.POST.get("priority", ""))
    except actions.ActionError as exc:
        return _done(request, conversation, str(exc))
    return _done(request, conversation)


@login_required
@require_POST
def labels(request: HttpRequest, pk: int) -> HttpResponse:
    agent = _agent(request)
    conversation = access.get_conversation_for_agent(agent, pk)
    names = [n for n in request.POST.get("labels", "").split(",") if n.strip()]
    actions.set_labels(conversation, agent, names)
    return _done(request, conversation)


@login_required
@require_POST
def retry(request: HttpRequest, pk: int, entry: str) -> HttpResponse:
    agent = _agent(request)
    conversation = access.get_conversation_for_agent(agent, pk)
    target = get_object_or_404(Entry, public_id=entry, conversation=conversation)
    try:
        actions.retry_delivery(target, agent)
    except actions.ActionError as exc:
        return _done(request, conversation, str(exc))
    return _done(request, conversation)


# --- the contact sidebar ------------------------------------------------------------


def _contact_back(request: HttpRequest, contact: Contact) -> str:
    back = request.POST.get("next", "")
    if back.startswith("/") and not back.startswith("//"):
        return back
    latest = Conversation.objects.filter(contact=contact).order_by("-last_message_at").first()
    return reverse("conversations:detail", args=[latest.pk]) if latest else "/"


def _contact_done(request: HttpRequest, contact: Contact, error: str = "") -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"ok": not error, "error": error}, status=400 if error else 200)
    if error:
        messages.error(request, error)
    return HttpResponseRedirect(_contact_back(request, contact))


@login_required
@require_POST
def contact_update(request: HttpRequest, pk: int) -> HttpResponse:
    contact = access.get_contact_for_agent(_agent(request), pk)
    attributes: dict[str, Any] = {}
    for line in request.POST.get("attributes", "").splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            return _contact_done(
                request, contact, _("Write attributes as “key: value”, one per line.")
            )
        attributes[key.strip()[:64]] = value.strip()
    actions.update_contact(
        contact, name=request.POST.get("name", contact.name).strip(), attributes=attributes or None
    )
    return _contact_done(request, contact)


@login_required
@require_POST
def identity_add(request: HttpRequest, pk: int) -> HttpResponse:
    contact = access.get_contact_for_agent(_agent(request), pk)
    try:
        ref = normalize(request.POST.get("kind", ""), request.POST.get("value", ""))
        actions.add_identity(contact, ref, verified=bool(request.POST.get("verified")))
    except InvalidIdentity as exc:
        return _contact_done(request, contact, str(exc))
    except actions.ActionError as exc:
        return _contact_done(request, contact, str(exc))
    return _contact_done(request, contact)


def _identity(request: HttpRequest, pk: int) -> Identity:
    identity = get_object_or_404(Identity.objects.select_related("contact"), pk=pk)
    access.get_contact_for_agent(_agent(request), identity.contact_id)
    return identity


@login_required
@require_POST
def identity_remove(request: HttpRequest, pk: int) -> HttpResponse:
    identity = _identity(request, pk)
    try:
        actions.remove_identity(identity, _agent(request))
    except actions.ActionError as exc:
        return _contact_done(request, identity.contact, str(exc))
    return _contact_done(request, identity.contact)


@login_required
@require_POST
def identity_verify(request: HttpRequest, pk: int) -> HttpResponse:
    identity = _identity(request, pk)
    actions.set_identity_verified(identity, _agent(request), request.POST.get("verified") != "0")
    return _contact_done(request, identity.contact)


def _find_contact(agent: Agent, value: str) -> Contact | None:
    value = value.strip().lstrip("#")
    if not value:
        return None
    visible = access.contacts_for_agent(agent).filter(merged_into__isnull=True)
    if value.isdigit():
        found = visible.filter(pk=int(value)).first()
        if found is not None:
            return found
    for kind in (IdentityKind.EMAIL, IdentityKind.PHONE):
        try:
            ref = normalize(kind, value)
        except InvalidIdentity:
            continue
        found = visible.filter(identities__kind=ref.kind, identities__value=ref.value).first()
        if found is not None:
            return found
    return visible.filter(identities__value=value).first()


@login_required
def contact_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: preview what would move from ?other= into this contact; POST: merge."""
    agent = _agent(request)
    target = access.get_contact_for_agent(agent, pk)
    other_value = request.POST.get("other") or request.GET.get("other", "")
    source = _find_contact(agent, other_value)
    error = ""
    if other_value and source is None:
        error = _("No contact found for “%(value)s”.") % {"value": other_value}
    elif source is not None and source.pk == target.pk:
        error = _("A contact cannot be merged into itself.")
    if request.method == "POST" and source is not None and not error:
        try:
            actions.merge_contacts(source, target, agent)
        except actions.ActionError as exc:
            error = str(exc)
        else:
            messages.success(
                request,
                _("Merged %(source)s into %(target)s.")
                % {"source": source.display_name, "target": target.display_name},
            )
            return HttpResponseRedirect(_contact_back(request, target))
    preview = None
    if source is not None and not error:
        preview = {
            "identities": list(source.identities.all()),
            "conversations": list(
                Conversation.objects.filter(contact=source).order_by("-last_message_at")[:50]
            ),
            "entries": Entry.objects.filter(contact=source).count(),
            "attributes": sorted(
                (k, v) for k, v in source.attributes.items() if k not in target.attributes
            ),
        }
    return render(
        request,
        "conversations/merge.html",
        {
            "target": target,
            "source": source,
            "other": other_value,
            "error": error,
            "preview": preview,
            "next": request.GET.get("next") or request.POST.get("next", ""),
        },
        status=400 if error and request.method == "POST" else 200,
    )


# --- search and notifications -------------------------------------------------------


@login_required
@require_GET
def search_view(request: HttpRequest) -> HttpResponse:
    agent = _agent(request)
    text = request.GET.get("q", "").strip()[:200]
    results = search.search(agent, text) if text else None
    return render(
        request, "conversations/search.html", {"text": text, "results": results, **_nav(agent)}
    )


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    agent = _agent(request)
    if request.method == "POST":
        actions.mark_notifications_read(agent)
        if _wants_json(request):
            return JsonResponse({"ok": True})
        return redirect("conversations:notifications")
    items = list(
        Notification.objects.filter(agent=agent).select_related("actor", "conversation")[:50]
    )
    unread = Notification.objects.filter(agent=agent, read_at__isnull=True).count()
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "unread": unread,
                "items": [
                    {
                        "kind": n.kind,
                        "text": n.text,
                        "conversation": n.conversation_id,
                        "read": n.read_at is not None,
                        "created_at": n.created_at.isoformat(),
                    }
                    for n in items[:10]
                ],
            }
        )
    return render(
        request,
        "conversations/notifications.html",
        {"items": items, "unread": unread, **_nav(agent)},
    )
