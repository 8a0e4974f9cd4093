# Shared by the service images' entrypoints: NAME or NAME_FILE, never both (like the app's own
# settings), so a secret never has to sit in the environment or in compose.yaml.
file_env() {
  name=$1 default=${2:-}
  eval "value=\${$name:-}"
  eval "file=\${${name}_FILE:-}"
  if [ -n "$value" ] && [ -n "$file" ]; then
    echo "$0: both $name and ${name}_FILE are set; set only one of them." >&2
    exit 1
  fi
  if [ -n "$file" ]; then
    if [ ! -r "$file" ]; then
      echo "$0: ${name}_FILE names $file, which cannot be read." >&2
      exit 1
    fi
    # A trailing newline in the file is not part of the secret.
    value=$(cat "$file")
  fi
  [ -n "$value" ] || value=$default
  export "$name=$value"
  unset "${name}_FILE"
}
