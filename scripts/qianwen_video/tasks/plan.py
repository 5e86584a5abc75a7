"""Plan a request before the network: mode, model, body, checks, output directory (pure but for file metadata)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, NamedTuple, Optional

from .. import catalog, config, media, modes, payload, validate
from ..context import Context
from ..errors import UsageError, ValidationFailed
from ..store import outputs


class Plan(NamedTuple):
    """Everything decided before the network: what to send and where results go."""

    request: Dict[str, Any]
    mode: str
    model: str
    built: payload.Built
    output: Optional[str]
    out_dir: Path


def make_plan(request: Dict[str, Any], ctx: Context, notes, *, model: Optional[str] = None,
              mode: Optional[str] = None, output: Optional[str] = None, check: bool = True) -> Plan:
    """Resolve mode and model, build the body and check it against the catalog.

    `notes` receives Note/Warning lines (a Console, or a batch item's prefixed one); every
    problem is raised at once as ValidationFailed. `check=False` (--no-validate) keeps only the
    local-file checks. The caller loads .env first: it may set the region.
    """
    mode, model_id = modes.resolve(request, model, mode)
    defaulted = not (model or request.get("model"))
    model_id = _chosen_by_fields(request, mode, model_id, defaulted, notes)
    needs = [key for key in modes.CHOOSING_FIELDS if modes.has(request, key)]
    model_id = _regional(model_id, defaulted, needs, ctx, notes)
    built = payload.build(request, model_id, mode)
    if built.spec is None:
        notes.warn("model %s is not in the catalog; sending it without model-specific checks "
                   "(see --list-models)" % model_id)
    elif built.spec.id != model_id:
        notes.warn("model %s is not in the catalog; checking it as %s" % (model_id, built.spec.id))
    home = media.home_of(ctx.environ)
    if check:
        problems = validate.check(request, mode, model_id, built.body, ctx.cwd, home, unused=built.unused)
    else:
        problems = media.problems(request, ctx.cwd, home)
    if problems:
        raise ValidationFailed(problems)
    for note in validate.unused_warnings(built.unused, built.spec, model_id):
        notes.warn(note)
    for alias in built.aliases:
        notes.info("Note: %s" % alias)
    notes.info(payload.billing_note(built))
    output = output or request.get("output")
    if output is not None and not isinstance(output, str):
        raise UsageError('"output" must be a path string')
    return Plan(request, mode, model_id, built, output, outputs.output_dir(output, ctx.cwd))


def _chosen_by_fields(request: Dict[str, Any], mode: str, model_id: str, defaulted: bool, notes) -> str:
    """A defaulted model that cannot take the request's choosing fields (wan2.7's media fields,
    an effect template) gives way to the first model of the mode that can."""
    if not defaulted:
        return model_id
    chosen, fields = modes.default_for_fields(request, mode, model_id)
    if fields:
        notes.info("Note: using %s: the default %s model %s takes no %s" % (chosen, mode, model_id, "/".join(fields)))
    return chosen


def _regional(model_id: str, defaulted: bool, needs, ctx: Context, notes) -> str:
    """Check the model against the configured region; a default gets its regional twin, or
    another model of the region, as long as it takes the request's choosing fields (`needs`)."""
    spec = catalog.get(model_id)
    region, assumed = config.ids_region(ctx)
    if spec is None or region in spec.regions or (assumed and not defaulted):
        return model_id
    fitting = [m.id for m in catalog.models_for_mode(spec.mode)
               if region in m.regions and all(m.takes(key) for key in needs)]
    twin = catalog.regional_twin(model_id, region)
    twin = twin if twin in fitting else None
    if defaulted and twin:
        notes.info("Note: using %s, the %s id of the default model %s%s" % (twin, region, model_id,
                                                                           "; " + assumed if assumed else ""))
        return twin
    if defaulted and fitting:
        notes.info("Note: using %s: the default %s model %s is not offered in %s%s"
                   % (fitting[0], spec.mode, model_id, region, "; " + assumed if assumed else ""))
        return fitting[0]
    alternative = twin or (fitting[0] if fitting else None)
    missing = " taking %s" % "/".join(needs) if needs else ""
    notes.warn("%s is listed for %s, not %s: that endpoint may reject it%s" % (
        model_id, ", ".join(spec.regions), region,
        " (use %s there)" % alternative if alternative else " (no %s model%s is listed there)" % (spec.mode, missing)))
    return model_id


def sent_prompt(plan: Plan) -> Optional[str]:
    """The prompt the body sends (what the service echoes back as output.orig_prompt)."""
    sent = plan.built.body.get("input")
    prompt = sent.get("prompt") if isinstance(sent, dict) else None
    return prompt if isinstance(prompt, str) else None
