"""The caregiver's pages (no account): a one-time questionnaire link (``/c/{token}``) and their
own space (``/s/{token}``) with released results, due questionnaires, wishes and feedback.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from attunement.store import NotFound, StoreValidationError
from attunement.store.service import SESSION_FEEDBACK_ITEMS, WISH_FIELDS
from attunement.usecases import assessments as uc_assessments
from attunement.web import content
from attunement.web.deps import PostedForm
from attunement.web.forms import item_field, parse_responses
from attunement.web.rendering import call, render, store_of

router = APIRouter(include_in_schema=False)


@router.get("/c/{token}")
async def caregiver_page(request: Request, token: str) -> Response:
    """Show a caregiver the questionnaire their one-time link asks for, in their language.

    No sign-in is needed; a used or expired link shows a page saying so.
    """
    try:
        info = await call(store_of(request).care.open_link, token)
    except NotFound:
        return render(request, "caregiver_gone.html", {}, status=404)
    language = info.get("language") or "en"
    form = content.instrument_form(info["instrument"], request.app.state.item_texts, language,
                                 samples=request.app.state.settings.sample_text_packs)
    return render(request, "caregiver.html", {"info": info, "form": form, "token": token,
                                              "words": content.caregiver_words(language)})


@router.post("/c/{token}")
async def caregiver_submit(request: Request, token: str, form: PostedForm) -> Response:
    """Take a caregiver's answers through their one-time link, score and store them, and thank them;
    crisis contacts are shown when an answer needs them.
    """
    store = store_of(request)
    try:
        info = await call(store.care.open_link, token)
    except NotFound:
        return render(request, "caregiver_gone.html", {}, status=404)
    language = info.get("language") or "en"
    words = content.caregiver_words(language)
    spec = content.instrument_form(info["instrument"], request.app.state.item_texts, language,
                                 samples=request.app.state.settings.sample_text_packs)
    responses, errors = parse_responses(
        form, len(spec.items), [item.values for item in spec.items],
        {item.position for item in spec.items if item.optional},
        unanswered=words["unanswered"],
    )
    if not errors:
        try:
            assessment = await call(uc_assessments.submit_link, store, token, responses,
                                    language=spec.language, time_point=info["time_point"])
        except NotFound:
            return render(request, "caregiver_gone.html", {}, status=404)
        except StoreValidationError as exc:
            errors.add(item_field(exc.field), exc.reason)
        else:
            return render(request, "caregiver_done.html", {
                "words": words,
                "urgent": content.shows_crisis_contacts(assessment),
                "unanswered": content.safety_item_unanswered(assessment),
                "contacts": content.crisis_contacts_in(
                    request.app.state.settings.crisis_contacts, words["lang"]),
            })
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    return render(request, "caregiver.html", {"info": info, "form": spec, "token": token,
                                              "values": values, "errors": errors,
                                              "words": words}, status=422)


@router.get("/s/{token}")
async def caregiver_space(request: Request, token: str) -> Response:
    """The caregiver's own space (no account): released results explained in their language."""
    try:
        info = await call(store_of(request).care.open_space, token)
    except NotFound:
        words = content.caregiver_words("en")
        return render(request, "caregiver_space_gone.html", {"words": words}, status=404)
    words = content.caregiver_words(info.get("language") or "en")
    return render(request, "caregiver_space.html", {
        "words": words, "results": content.plain_results(info["results"], words),
        "episodes": info["episodes"], "token": token, "told": info["contributions"],
        "due": [{**d, "name": content.instrument_short_name(d["instrument"])}
                for d in info["due"]],
        "feedback_items": SESSION_FEEDBACK_ITEMS, "wish_fields": WISH_FIELDS,
    })


@router.post("/s/{token}/start")
async def caregiver_start(request: Request, token: str, form: PostedForm) -> Response:
    """From the caregiver's space: open one questionnaire that is due (a fresh one-time link)."""
    try:
        secret = await call(store_of(request).care.start_due_questionnaire, token,
                            str(form.get("instrument", "")), str(form.get("time_point", "")),
                            hours=request.app.state.settings.link_hours)
    except NotFound:
        return render(request, "caregiver_space_gone.html",
                      {"words": content.caregiver_words("en")}, status=404)
    except StoreValidationError:
        return RedirectResponse(f"/s/{quote(token)}", status_code=303)
    return RedirectResponse(f"/c/{quote(secret)}", status_code=303)


@router.post("/s/{token}/{kind}")
async def caregiver_contribute(request: Request, token: str, kind: str,
                               form: PostedForm) -> Response:
    """What a caregiver tells the service from their space: wishes or session feedback."""
    store = store_of(request)
    try:
        info = await call(store.care.open_space, token)
    except NotFound:
        return render(request, "caregiver_space_gone.html",
                      {"words": content.caregiver_words("en")}, status=404)
    words = content.caregiver_words(info.get("language") or "en")
    if kind == "wishes":
        data: dict[str, Any] = {k: str(form.get(k, "")) for k in WISH_FIELDS}
        stored_kind = "wishes"
    elif kind == "feedback":
        data = {"episode": str(form.get("episode", "")), "comment": str(form.get("comment", "")),
                "ratings": {k: str(form.get(f"rating.{k}", "")) for k in SESSION_FEEDBACK_ITEMS}}
        stored_kind = "session_feedback"
    else:
        raise NotFound("no such page")
    context: dict[str, Any] = {
        "words": words, "results": content.plain_results(info["results"], words),
        "episodes": info["episodes"], "token": token, "told": info["contributions"],
        "due": [{**d, "name": content.instrument_short_name(d["instrument"])}
                for d in info["due"]],
        "feedback_items": SESSION_FEEDBACK_ITEMS, "wish_fields": WISH_FIELDS,
    }
    try:
        await call(store.care.contribute, token, stored_kind, data)
    except StoreValidationError as exc:
        field = exc.field.replace("ratings.", "rating.")
        label = words.get(f"feedback_{exc.field.split('.')[-1]}") if "ratings." in exc.field \
            else words.get(exc.field, exc.field)
        context.update(values={k: v for k, v in form.items() if isinstance(v, str)},
                       errors={field: f"{label}: {exc.reason}"}, sent_error=kind)
        return render(request, "caregiver_space.html", context, status=422)
    info = await call(store.care.open_space, token)  # the record now includes what was sent
    context.update(sent=kind, told=info["contributions"])
    return render(request, "caregiver_space.html", context)
