# Sourced by ops scripts and .ci/run: puts a Node.js >= 22 first on PATH,
# installing the npm package `node@22` into .tools/ when the machine's own
# node is older (Moleculer 0.15 needs Node 22).
_headroom_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(_node_major)" -lt 22 ]; then
  _tools="$_headroom_root/.tools/node22"
  if [ ! -x "$_tools/node_modules/node/bin/node" ]; then
    echo "headroom: installing Node.js 22 into $_tools (machine node is $(node --version 2>/dev/null || echo none))" >&2
    mkdir -p "$_tools"
    npm install --no-save --no-audit --no-fund --prefix "$_tools" node@22 >&2
  fi
  export PATH="$_tools/node_modules/node/bin:$PATH"
fi
unset -f _node_major
