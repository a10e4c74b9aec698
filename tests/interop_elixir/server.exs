# An Elixir node for beamlink to call: an `ex_inbox` that answers
# `{From, Term}` with `{:elixir_got, Term}`; runs until stdin closes.
inbox = spawn(fn ->
  loop = fn loop ->
    receive do
      {from, term} when is_pid(from) -> send(from, {:elixir_got, term})
      other -> IO.puts("OTHER #{inspect(other)}")
    end
    loop.(loop)
  end
  loop.(loop)
end)
Process.register(inbox, :ex_inbox)
IO.puts("READY #{node()}")
IO.read(:stdio, :eof)
