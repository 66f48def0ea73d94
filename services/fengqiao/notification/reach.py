"""Whether the directory (通讯录) reaches everyone a policy tells: for each street the
directory or the policy names, each role a route or rule notifies must have a contact
there, or its notices for that street would have no channel (`notification_unroutable`
at run time). Pure: read by `fengqiao rules check`."""

from __future__ import annotations

from fengqiao.domain.vocabulary import RECIPIENT_ROLES
from fengqiao.notification.directory import Directory
from fengqiao.notification.recipients import PARTY, SCOPE
from fengqiao.policy.conditions import Op
from fengqiao.policy.facts import PLACE_PARTS
from fengqiao.policy.lint import Finding
from fengqiao.policy.model import Policy, Rule

Street = tuple[str, str]  # (district, street)


def unreachable(policy: Policy, directory: Directory) -> list[Finding]:
    """One warning per rule and role that some known street cannot reach."""
    streets = _streets(policy, directory)
    out: list[Finding] = []
    for rule in policy.all_rules():
        roles = dict.fromkeys((*policy.routes[rule.route].notify, *rule.notify))
        where = [s for s in streets if _may_apply(rule, s)]
        for role in roles:
            if role == PARTY:
                continue
            missing = [s for s in where if not _reaches(directory, role, s)]
            if not missing:
                continue
            shown = "、".join("/".join(s) for s in missing[:5])
            more = f" 等 {len(missing)} 个街道" if len(missing) > 5 else ""
            out.append(
                Finding(
                    rule.line,
                    f"规则 {rule.id} 须通知{RECIPIENT_ROLES.get(role, role)}，但通讯录中"
                    f"{shown}{more}没有登记，通知将无法送达（notification_unroutable）",
                    f"rule {rule.id} notifies {role}, which the directory cannot reach in "
                    f"{', '.join('/'.join(s) for s in missing)}",
                )
            )
    return out


def _streets(policy: Policy, directory: Directory) -> list[Street]:
    """Every street the directory lists someone in, or a rule's `location` names."""
    places = [cid.partition("@")[2] for cid in directory.contacts]
    places += [
        str(v)
        for rule in policy.all_rules()
        for c in rule.conditions
        if c.op is Op.WITHIN
        for v in c.values
    ]
    found: dict[Street, None] = {}
    for place in places:
        parts = place.split("/")
        if len(parts) >= 2:
            found[(parts[0], parts[1])] = None
    return list(found)


def _may_apply(rule: Rule, street: Street) -> bool:
    """False when a place condition of `rule` rules `street` out."""
    path = "/".join(street)
    for c in rule.conditions:
        if c.op is Op.WITHIN and not any(
            f"{path}/".startswith(f"{v}/") or str(v).startswith(f"{path}/") for v in c.values
        ):
            return False
        if c.fact in PLACE_PARTS[:2] and not c.holds(
            dict(zip(PLACE_PARTS[:2], street, strict=True))
        ):
            return False
    return True


def _reaches(directory: Directory, role: str, street: Street) -> bool:
    if SCOPE.get(role, 2) == 1:
        return f"{role}@{street[0]}" in directory.contacts
    prefix = f"{role}@{'/'.join(street)}"
    return any(cid == prefix or cid.startswith(f"{prefix}/") for cid in directory.contacts)
