# Sourced (not run) by .ci/run and infra/scripts/{setup,start,test}.sh: puts a supported Node (22 or
# 24, see package.json "engines") and pnpm 12.4.2 first on PATH for the rest of the script.
#
# A machine whose `node` is older (the project's machines have Node 20, end of life since April 2026)
# gets Node 22 from the npm registry: the package node-linux-<arch>@$MCPRT_NODE_VERSION ships the
# official binary as bin/node. It is unpacked into .tools/node22 (git-ignored) once and reused.
# Without a global pnpm (or with another version), pnpm 12.4.2 is installed into .tools/pnpm.
MCPRT_NODE_VERSION=22.23.5
MCPRT_PNPM_VERSION=12.4.2
mcprt_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

mcprt_node_major() { "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

case "$(mcprt_node_major)" in
  22 | 24) ;;
  *)
    mcprt_node_dir="$mcprt_root/.tools/node22"
    if [ "$("$mcprt_node_dir/bin/node" --version 2>/dev/null)" != "v$MCPRT_NODE_VERSION" ]; then
      case "$(uname -m)" in x86_64 | amd64) mcprt_arch=x64 ;; aarch64 | arm64) mcprt_arch=arm64 ;; *) mcprt_arch=$(uname -m) ;; esac
      echo "› node $(node --version 2>/dev/null || echo '(none)') is not supported (22 or 24): fetching Node $MCPRT_NODE_VERSION from the npm registry (node-linux-$mcprt_arch@$MCPRT_NODE_VERSION) into .tools/node22" >&2
      mcprt_tmp=$(mktemp -d)
      if ! (cd "$mcprt_tmp" && npm pack --silent "node-linux-$mcprt_arch@$MCPRT_NODE_VERSION" >/dev/null); then
        echo "could not fetch node-linux-$mcprt_arch@$MCPRT_NODE_VERSION from the npm registry; install Node 22 or 24 and try again" >&2
        rm -rf "$mcprt_tmp"
        return 1 2>/dev/null || exit 1
      fi
      rm -rf "$mcprt_node_dir" && mkdir -p "$mcprt_node_dir"
      tar xzf "$mcprt_tmp"/node-linux-*.tgz -C "$mcprt_node_dir" --strip-components=1 package/bin/node package/LICENSE
      rm -rf "$mcprt_tmp"
    fi
    export PATH="$mcprt_node_dir/bin:$PATH"
    ;;
esac

if [ "$(pnpm --version 2>/dev/null)" != "$MCPRT_PNPM_VERSION" ]; then
  mcprt_pnpm_dir="$mcprt_root/.tools/pnpm"
  if [ "$("$mcprt_pnpm_dir/node_modules/.bin/pnpm" --version 2>/dev/null)" != "$MCPRT_PNPM_VERSION" ]; then
    echo "› installing pnpm $MCPRT_PNPM_VERSION into .tools/pnpm (npm registry)" >&2
    npm install --silent --no-save --no-package-lock --prefix "$mcprt_pnpm_dir" "pnpm@$MCPRT_PNPM_VERSION" >/dev/null || {
      echo "could not install pnpm $MCPRT_PNPM_VERSION" >&2
      return 1 2>/dev/null || exit 1
    }
  fi
  export PATH="$mcprt_pnpm_dir/node_modules/.bin:$PATH"
fi
[ -n "${MCPRT_USE_NODE_QUIET:-}" ] || echo "› node $(node --version) ($(command -v node)), pnpm $(pnpm --version)" >&2
