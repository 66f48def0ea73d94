#!/bin/sh
# Development passwords for `docker compose -f deploy/compose.yaml up`: a random password
# per NATS user, written to deploy/.env (read by compose: the services' plaintext
# passwords) and their bcrypt hashes to deploy/nats/passwords.conf (read by nats-server,
# which keeps no plaintext); and the console's session signing key, FENGQIAO_CONSOLE_SECRET,
# to deploy/.env. Running it again makes new ones, and signs everyone out of the console
# (deploy/README.md, "Rotating credentials"). Needs openssl, and htpasswd (Debian:
# apache2-utils) or Python's bcrypt.
set -eu
deploy="$(cd "$(dirname "$0")/.." && pwd)"
umask 077
hash() {
  if command -v htpasswd >/dev/null 2>&1; then
    htpasswd -bnBC 11 "" "$1" | tr -d ':\n'
  else
    python3 -c 'import bcrypt, sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(11)).decode(), end="")' "$1"
  fi
}
env_file="$deploy/.env"
conf="$deploy/nats/passwords.conf"
printf '# NATS users of fengqiao (deploy/nats/dev-passwords.sh); keep out of version control.\n' > "$env_file"
printf '# bcrypt hashes of the NATS users'"'"' passwords (deploy/nats/dev-passwords.sh).\n' > "$conf"
for user in intake triage notification operator policy console; do
  password="$(openssl rand -hex 24)"
  upper="$(echo "$user" | tr a-z A-Z)"
  printf 'FENGQIAO_NATS_%s_PASSWORD=%s\n' "$upper" "$password" >> "$env_file"
  printf '%s_PASSWORD_HASH: "%s"\n' "$upper" "$(hash "$password")" >> "$conf"
done
printf 'FENGQIAO_CONSOLE_SECRET=%s\n' "$(openssl rand -hex 32)" >> "$env_file"
chmod 644 "$conf"  # read by the nats container's own user
echo "written: $env_file $conf"
