"""The compose file and the Kubernetes manifests are what compose and a cluster accept
(the compose-spec schema; the Kubernetes API's schemas, strict), and they run the image as
it is built: its numeric user, its one name, probes that give `fengqiao health` time,
each service and the console as its own NATS user, notification with somewhere to deliver
to, the console with the services' addresses, its users and its session key, and NATS as a
3-node JetStream cluster with three copies of each stream."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
from kubernetes_validate import ValidationError
from ruamel.yaml import YAML

from tests.deploy.manifests import (
    BIN,
    CONSOLE,
    DEPLOY,
    DEPLOYED,
    SERVICES,
    compose,
    env_entries,
    env_values,
    image,
    k8s,
    k8s_object,
    pod_spec,
    secret_refs,
)

# The compose-spec's JSON Schema (github.com/compose-spec/compose-spec, Apache-2.0, as
# vendored by check-jsonschema 0.39.0), kept here: tests reach no network.
COMPOSE_SPEC = Path(__file__).parent / "compose-spec.json"
# The oldest Kubernetes the manifests are meant for (CronJob timeZone is GA from 1.27).
KUBERNETES = "1.30.0"
USERS = ("intake", "triage", "notification", "operator", "policy", "console")
FENGQIAO_USER = 10001


def test_compose_follows_the_compose_spec() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(COMPOSE_SPEC.read_text()))
    validator.validate(compose())
    # The schema refuses what compose would refuse: a misspelled key.
    broken = copy.deepcopy(compose())
    broken["services"]["intake"]["helthcheck"] = broken["services"]["intake"].pop("healthcheck")
    assert not validator.is_valid(broken)


def test_kubernetes_accepts_every_rendered_object_strictly() -> None:
    objects = k8s()
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == [
        "ConfigMap", "CronJob", "Deployment", "Job", "NetworkPolicy", "Service", "StatefulSet",
    ]  # fmt: skip
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    # Strict: a field the API does not know is refused, not ignored.
    broken = k8s_object("Deployment", "fengqiao-intake")
    pod_spec(broken)["containers"][0]["readinessProbe"]["timeoutSecond"] = 5
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_one_image_name_everywhere() -> None:
    services = compose()["services"]
    assert {services[n]["image"] for n in (*DEPLOYED, "bus-setup")} == {image()}
    fengqiao = [
        c["image"]
        for o in k8s()
        if o["kind"] in ("Deployment", "Job", "CronJob")
        for c in pod_spec(o)["containers"]
    ]
    assert len(fengqiao) == 6 and set(fengqiao) == {image()}
    makefile = (DEPLOY.parent / "Makefile").read_text()
    assert re.search(r"^IMAGE := fengqiao:\$\(VERSION\)$", makefile, re.MULTILINE)


def test_pods_run_as_the_images_numeric_user_and_never_as_root() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.findall(r"^USER (.+)$", dockerfile, re.MULTILINE) == [
        f"{FENGQIAO_USER}:{FENGQIAO_USER}"
    ]
    for obj in k8s():
        if obj["kind"] not in ("Deployment", "Job", "CronJob", "StatefulSet"):
            continue
        spec = pod_spec(obj)
        assert spec["securityContext"]["runAsNonRoot"] is True, obj["metadata"]["name"]
        # The kubelet can check a numeric user only; the image's is 10001.
        expected = 1000 if obj["metadata"]["name"] == "nats" else FENGQIAO_USER
        assert spec["securityContext"]["runAsUser"] == expected, obj["metadata"]["name"]
        for container in spec["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_probes_give_fengqiao_health_time_to_answer() -> None:
    """`fengqiao health` takes 0.7–0.8 s on an idle node: the default 1 s timeout fails a
    healthy pod under any load."""
    for name in SERVICES:
        (container,) = pod_spec(k8s_object("Deployment", f"fengqiao-{name}"))["containers"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["exec"]["command"][:2] == ["fengqiao", "health"]
            assert container[probe]["timeoutSeconds"] >= 5, (name, probe)
        check = compose()["services"][name]["healthcheck"]
        assert check["test"][1:3] == ["fengqiao", "health"] and check["timeout"] == "5s"


def test_the_console_is_probed_on_its_page_that_needs_no_sign_in() -> None:
    """Every other page redirects to /login (a probe would count the 303 as healthy even
    with the sign-in broken); /healthz answers 200 without a session."""
    (container,) = pod_spec(k8s_object("Deployment", "fengqiao-console"))["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
        assert container[probe]["timeoutSeconds"] >= 5, probe
    # As long to start as the services: it waits up to 60 s for NATS too.
    start = container["startupProbe"]
    assert start["periodSeconds"] * start["failureThreshold"] >= 120
    check = compose()["services"][CONSOLE]["healthcheck"]
    assert check["test"][0] == "CMD" and "http://127.0.0.1:8080/healthz" in check["test"][-1]
    assert check["timeout"] == "5s" and check["start_period"] == "60s"


def test_notification_has_its_delivery_settings_and_directory() -> None:
    deployment = k8s_object("Deployment", "fengqiao-notification")
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    values = env_values(container)
    secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in container["env"]
        if "valueFrom" in e
    }
    assert secrets["FENGQIAO_WEBHOOK_SECRET"] == secrets["FENGQIAO_SMS_SECRET"]
    (source,) = container["envFrom"]
    (config,) = [
        o
        for o in k8s()
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == source["configMapRef"]["name"]
    ]
    assert {"FENGQIAO_SMTP_HOST", "FENGQIAO_SMTP_SENDER", "FENGQIAO_SMS_GATEWAY_URL"} <= set(
        config["data"]
    )
    # The directory is read from the mounted rules ConfigMap, not the image's copy.
    directory = Path(str(values["FENGQIAO_DIRECTORY_FILE"]))
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert str(directory.parent) == mounts["rules"]
    assert volumes["rules"]["configMap"]["name"] == "fengqiao-rules"
    # In compose, 127.0.0.1 is the notification container itself.
    smtp = compose()["services"]["notification"]["environment"]["FENGQIAO_SMTP_HOST"]
    assert "127.0.0.1" not in smtp and "localhost" not in smtp


def test_nats_runs_as_a_three_node_jetstream_cluster_and_streams_keep_three_copies() -> None:
    nats = k8s_object("StatefulSet", "nats")
    replicas = nats["spec"]["replicas"]
    assert replicas == 3
    (config,) = [
        o for o in k8s() if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("nats-")
    ]
    conf = config["data"]["nats.conf"]
    headless = nats["spec"]["serviceName"]
    routes = re.findall(rf"nats://nats-(\d)\.{headless}:6222", conf)
    assert sorted(routes) == [str(i) for i in range(replicas)]
    assert re.search(r"^jetstream \{", conf, re.MULTILINE) and "sync_interval: always" in conf
    (setup,) = pod_spec(k8s_object("Job", "fengqiao-bus-setup"))["containers"]
    assert setup["args"] == ["bus", "setup", "--replicas", str(replicas)]
    # The users' password hashes sit beside auth.conf, which includes them.
    volume = next(v for v in pod_spec(nats)["volumes"] if v["name"] == "config")
    sources = volume["projected"]["sources"]
    assert {"auth.conf", "tls.conf", "nats.conf"} == set(config["data"])
    assert {"secret": {"name": "fengqiao-nats-users"}} in sources


def test_compose_and_kubernetes_run_the_nats_server_version_the_tests_run() -> None:
    tested = subprocess.run(
        [str(Path(sys.executable).parent / "nats-server"), "--version"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    (container,) = pod_spec(k8s_object("StatefulSet", "nats"))["containers"]
    for name in (compose()["services"]["nats"]["image"], container["image"]):
        match = re.fullmatch(r"nats:(\d+\.\d+\.\d+)-alpine", name)
        assert match and f"v{match[1]}" in tested


def test_every_deployed_service_connects_as_its_own_nats_user() -> None:
    users = set(re.findall(r"\{user: (\w+),", (DEPLOY / "nats" / "auth.conf").read_text()))
    assert users == set(USERS)
    services = compose()["services"]
    for name in DEPLOYED:
        env = services[name]["environment"]
        assert env["FENGQIAO_NATS_USER"] == name and env["FENGQIAO_NATS_URL"].startswith("tls://")
        password = f"${{FENGQIAO_NATS_{name.upper()}_PASSWORD:?"
        assert env["FENGQIAO_NATS_PASSWORD"].startswith(password), name
        (container,) = pod_spec(k8s_object("Deployment", f"fengqiao-{name}"))["containers"]
        assert container["args"] == services[name]["command"] == [name]
        values = env_values(container)
        assert values["FENGQIAO_NATS_USER"] == name
        assert values["FENGQIAO_NATS_URL"] == "tls://nats:4222"
        assert secret_refs(container)["FENGQIAO_NATS_PASSWORD"] == (
            "fengqiao-nats", f"{name}-password",
        )  # fmt: skip
    for name in SERVICES:
        (container,) = pod_spec(k8s_object("Deployment", f"fengqiao-{name}"))["containers"]
        values = env_values(container)
        # The gRPC API serves TLS, so its probes are `fengqiao health`, which can.
        assert {"FENGQIAO_GRPC_TLS_CERT", "FENGQIAO_GRPC_TLS_KEY", "FENGQIAO_GRPC_TLS_CA"} <= set(
            values
        )
        assert values["FENGQIAO_GRPC_TLS_SERVER_NAME"] == f"fengqiao-{name}"
    # The operator's own runs: declaring the streams first, and the nightly retention job.
    for obj, args in (
        (k8s_object("Job", "fengqiao-bus-setup"), ["bus", "setup", "--replicas", "3"]),
        (k8s_object("CronJob", "fengqiao-retention"), ["retention", "--days", "365"]),
    ):
        (container,) = pod_spec(obj)["containers"]
        assert container["args"] == args
        values = env_values(container)
        assert values["FENGQIAO_NATS_USER"] == "operator"
        assert values["FENGQIAO_NATS_URL"] == "tls://nats:4222"
    setup = services["bus-setup"]
    assert setup["command"] == ["bus", "setup"]
    assert setup["environment"]["FENGQIAO_NATS_USER"] == "operator"
    for name in DEPLOYED:
        waits_for = services[name]["depends_on"]["bus-setup"]
        assert waits_for["condition"] == "service_completed_successfully"


def test_containers_listen_where_the_image_exposes_and_the_services_point() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    (exposed,) = re.findall(r"^EXPOSE (.+)$", dockerfile, re.MULTILINE)
    image_env = dict(re.findall(r"(FENGQIAO_\w+_ADDR)=(\S+)", dockerfile))
    ports = {"metrics": image_env["FENGQIAO_METRICS_ADDR"].rpartition(":")[2]}
    for name in SERVICES:
        ports[name] = image_env[f"FENGQIAO_{name.upper()}_ADDR"].rpartition(":")[2]
        deployment = k8s_object("Deployment", f"fengqiao-{name}")
        (container,) = pod_spec(deployment)["containers"]
        listen = env_values(container)[f"FENGQIAO_{name.upper()}_ADDR"]
        declared = {p["name"]: str(p["containerPort"]) for p in container["ports"]}
        assert listen == f"0.0.0.0:{ports[name]}" and declared["grpc"] == ports[name]
        assert declared["metrics"] == ports["metrics"]
        assert deployment["spec"]["template"]["metadata"]["annotations"] == {
            "prometheus.io/scrape": "true", "prometheus.io/port": ports["metrics"],
        }  # fmt: skip
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["exec"]["command"][-1] == f"127.0.0.1:{ports[name]}"
        (service,) = [
            o["spec"]["ports"] for o in k8s()
            if o["kind"] == "Service" and o["metadata"]["name"] == f"fengqiao-{name}"
        ]  # fmt: skip
        assert service == [{"name": "grpc", "port": int(ports[name]), "targetPort": "grpc"}]
        assert compose()["services"][name]["ports"] == [f"{ports[name]}:{ports[name]}"]
    # The console: HTTP, on the port its Service forwards to and its probes ask.
    ports[CONSOLE] = image_env["FENGQIAO_CONSOLE_ADDR"].rpartition(":")[2]
    deployment = k8s_object("Deployment", "fengqiao-console")
    (container,) = pod_spec(deployment)["containers"]
    declared = {p["name"]: str(p["containerPort"]) for p in container["ports"]}
    assert env_values(container)["FENGQIAO_CONSOLE_ADDR"] == f"0.0.0.0:{ports[CONSOLE]}"
    assert declared == {"http": ports[CONSOLE], "metrics": ports["metrics"]}
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true", "prometheus.io/port": ports["metrics"],
    }  # fmt: skip
    (service,) = [
        o["spec"]["ports"] for o in k8s()
        if o["kind"] == "Service" and o["metadata"]["name"] == "fengqiao-console"
    ]  # fmt: skip
    assert service == [{"name": "http", "port": int(ports[CONSOLE]), "targetPort": "http"}]
    console = compose()["services"][CONSOLE]
    assert console["environment"]["FENGQIAO_CONSOLE_ADDR"] == f"0.0.0.0:{ports[CONSOLE]}"
    # Passwords are typed into it over plain HTTP in compose: published on the host only.
    assert console["ports"] == [f"127.0.0.1:{ports[CONSOLE]}:{ports[CONSOLE]}"]
    assert sorted(exposed.split()) == sorted(ports.values())


def grpc_service_addresses() -> dict[str, str]:
    """Each gRPC service's address inside the cluster: its Service's name and port."""
    return {
        name: f"fengqiao-{name}:{port['port']}"
        for name in SERVICES
        for o in k8s()
        if o["kind"] == "Service" and o["metadata"]["name"] == f"fengqiao-{name}"
        for port in o["spec"]["ports"]
        if port["name"] == "grpc"
    }


def test_the_console_reaches_the_services_by_their_service_names_over_tls() -> None:
    spec = pod_spec(k8s_object("Deployment", "fengqiao-console"))
    (container,) = spec["containers"]
    values = env_values(container)
    addresses = grpc_service_addresses()
    assert len(addresses) == len(SERVICES)
    for name in SERVICES:
        assert values[f"FENGQIAO_{name.upper()}_ADDR"] == addresses[name]
    # The certificate names the Services, so each channel checks the name it dials: no
    # name override, and no certificate of its own to present (it serves no gRPC).
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    ca = Path(str(values["FENGQIAO_GRPC_TLS_CA"]))
    assert str(ca.parent) == mounts["grpc-tls"]
    assert volumes["grpc-tls"]["secret"]["secretName"] == "fengqiao-grpc-tls"
    assert volumes["grpc-tls"]["secret"]["items"] == [{"key": ca.name, "path": ca.name}]
    assert not {"FENGQIAO_GRPC_TLS_SERVER_NAME", "FENGQIAO_GRPC_TLS_CERT"} & set(values)
    # In compose, the services' own names and ports, in plain text on compose's network.
    env = compose()["services"][CONSOLE]["environment"]
    for name in SERVICES:
        port = compose()["services"][name]["ports"][0].rpartition(":")[2]
        assert env[f"FENGQIAO_{name.upper()}_ADDR"] == f"{name}:{port}"


def test_the_console_has_its_session_key_users_and_single_sign_on() -> None:
    spec = pod_spec(k8s_object("Deployment", "fengqiao-console"))
    (container,) = spec["containers"]
    values = env_values(container)
    secrets = secret_refs(container)
    # Behind the platform's HTTPS front: cookies never go in plain text.
    assert values["FENGQIAO_CONSOLE_SECURE_COOKIES"] == "1"
    # One session key for every replica, so any of them serves any signed-in user.
    assert secrets["FENGQIAO_CONSOLE_SECRET"] == ("fengqiao-console", "session-secret")
    assert secrets["FENGQIAO_CONSOLE_OIDC_CLIENT_SECRET"] == (
        "fengqiao-console", "oidc-client-secret",
    )  # fmt: skip
    # The provider and client are a city's settings, replaced by its overlay.
    (source,) = container["envFrom"]
    (config,) = [
        o for o in k8s()
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == source["configMapRef"]["name"]
    ]  # fmt: skip
    assert {
        "FENGQIAO_CONSOLE_OIDC_METADATA_URL", "FENGQIAO_CONSOLE_OIDC_CLIENT_ID",
    } <= set(config["data"])  # fmt: skip
    # Without single sign-on, the users file comes from the same Secret: that key alone.
    users = Path(str(values["FENGQIAO_CONSOLE_USERS_FILE"]))
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    (volume,) = [v for v in spec["volumes"] if v["name"] == "users"]
    assert mounts["users"]["mountPath"] == str(users.parent) and mounts["users"]["readOnly"]
    assert volume["secret"]["secretName"] == "fengqiao-console"
    assert volume["secret"]["items"] == [{"key": users.name, "path": users.name}]
    # The read model's database: where intake has one, the console reads the same.
    intake = pod_spec(k8s_object("Deployment", "fengqiao-intake"))["containers"][0]
    database = "FENGQIAO_DATABASE_URL"
    assert env_entries(container).get(database) == env_entries(intake).get(database)
    # Compose: the session key from deploy/.env, and a users file mounted read-only.
    console = compose()["services"][CONSOLE]
    env = console["environment"]
    assert env["FENGQIAO_CONSOLE_SECRET"].startswith("${FENGQIAO_CONSOLE_SECRET:?")
    (mounted,) = [
        v for v in console["volumes"]
        if isinstance(v, dict) and v["target"] == env["FENGQIAO_CONSOLE_USERS_FILE"]
    ]  # fmt: skip
    assert mounted["read_only"] is True and mounted["bind"]["create_host_path"] is False


def test_a_citys_overlay_as_the_guide_writes_it_renders_and_is_accepted(tmp_path: Path) -> None:
    """deploy/README.md, "Kubernetes": an overlay naming deploy/ as its base sets the
    registry and replaces the delivery settings."""
    overlay = tmp_path / "overlays" / "city"
    overlay.mkdir(parents=True)
    guide = (DEPLOY / "README.md").read_text()
    example = guide.split("# overlays/city/kustomization.yaml\n", 1)[1].split("```", 1)[0]
    base = os.path.relpath(DEPLOY, overlay)
    (overlay / "kustomization.yaml").write_text(example.replace("../../deploy", base))
    (overlay / "notification.env").write_text("FENGQIAO_SMTP_HOST=smtp.city.example\n")
    sso = "https://sso.city.example/.well-known/openid-configuration"
    (overlay / "console.env").write_text(
        f"FENGQIAO_CONSOLE_OIDC_METADATA_URL={sso}\nFENGQIAO_CONSOLE_OIDC_CLIENT_ID=fq\n"
    )
    rendered = subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(overlay)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    objects = [d for d in YAML(typ="safe").load_all(rendered) if d]
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    images = {
        c["image"]
        for o in objects
        if o["kind"] in ("Deployment", "Job", "CronJob")
        for c in pod_spec(o)["containers"]
    }
    assert images == {f"registry.city.example/{image()}"}
    (settings,) = [
        o["data"] for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("fengqiao-notification")
    ]  # fmt: skip
    assert settings == {"FENGQIAO_SMTP_HOST": "smtp.city.example"}
    (console,) = [
        o["data"] for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("fengqiao-console")
    ]  # fmt: skip
    assert console == {"FENGQIAO_CONSOLE_OIDC_METADATA_URL": sso,
                       "FENGQIAO_CONSOLE_OIDC_CLIENT_ID": "fq"}  # fmt: skip
