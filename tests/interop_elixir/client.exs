# Elixir against a beamlink node (the first argument): one line per check.
[peer] = System.argv() |> Enum.map(&String.to_atom/1)
say = fn label, value -> IO.puts("#{label} #{inspect(value, limit: :infinity)}") end

say.("PING", Node.ping(peer))

identity = fn x -> x end
big = Integer.pow(3, 200)
terms = [
  map: %{"b" => [2], :a => 1, {:t} => %{nested: true}},
  charlist: ~c"charlist",
  uri: %URI{scheme: "https", host: "example.org", port: 443, path: "/p"},
  mapset: MapSet.new([1, 2, 3]),
  bignum: big,
  negative_bignum: -big,
  fun: identity,
  large_binary: :binary.copy(<<1, 2, 3, 4>>, 262_144),
  keyword: [a: 1, b: [c: ~c"x"]],
  float: -1.5e-300,
  pid: self(),
  ref: make_ref(),
  unicode: {:"héllo", "ünïcödé ☃"}
]

for {label, term} <- terms do
  back = GenServer.call({:echo, peer}, term, 10_000)
  say.("CALL #{label}", back === term)
end

# The fun came back as the very closure: it still runs here.
back = GenServer.call({:echo, peer}, identity, 10_000)
say.("FUN_RUNS", back.(:still_callable))

send({:echo, peer}, {self(), {:plain_send, 1}})
receive do
  msg -> say.("SEND", msg)
after
  10_000 -> say.("SEND", :timeout)
end

say.("ERPC", :erpc.call(peer, :erlang, :node, []))
say.("RPC", :rpc.call(peer, :erlang, :node, []))
say.("ERPC_UNDEF", (try do :erpc.call(peer, :nosuch, :fn, [1]) catch kind, reason -> {kind, reason} end))

await_down = fn ref ->
  receive do
    {:DOWN, ^ref, :process, pid, reason} -> {node(pid) == peer, reason}
  after
    10_000 -> :no_down
  end
end

{pid, ref} = Node.spawn_monitor(peer, :erlang, :node, [])
say.("SPAWN_MONITOR", {node(pid) == peer, await_down.(ref)})

echo = :erpc.call(peer, :erlang, :whereis, [:echo])
say.("ECHO_PID", node(echo) == peer)
ref = Process.monitor(echo)
receive do
  {:DOWN, ^ref, _, _, _} = down -> say.("EARLY_DOWN", down)
after
  200 -> :ok
end
Process.exit(echo, :kill)
say.("MONITOR", await_down.(ref))
say.("MONITOR_DEAD", await_down.(Process.monitor(echo)))
say.("DONE", :ok)
