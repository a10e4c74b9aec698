%% The Erlang side of the cross-stack benchmark (`bench/run`).
%%
%% On a receiving node, start/0 registers `sink' and `echo' with the same
%% protocol as the services of `beamlink serve':
%%   sink: counts messages; {done, From} sends {count, N} to From (N not
%%         counting the done message) and resets the count;
%%   echo: {From, Term} sends Term to From; a gen_server call is answered
%%         with its request.
%%
%%   erl -sname srv -setcookie C -noinput -pa EBIN -s beamlink_bench start
%%
%% run/1 is the load generator, measured the same way as `beamlink bench',
%% printing the same last line:
%%
%%   erl -sname gen -hidden -setcookie C -noshell -pa EBIN \
%%       -run beamlink_bench run NODE MODE SIZE COUNT [seconds=S] [server_pid=PID]
%%
%%   MODE throughput: COUNT messages, each a binary of SIZE bytes, to
%%        {sink, NODE} as fast as the distribution's back-pressure allows,
%%        after a warm-up (0.3 s or 256 MiB, not timed; reset with a done
%%        round); the clock stops at the {count, M} reply, and M must equal
%%        COUNT. With
%%        seconds=S the count is chosen from the warm-up's rate so the timed
%%        part runs about S seconds, COUNT being the most (0: no limit).
%%        Prints: throughput size=S count=N msgs_per_s=X mb_per_s=Y
%%   MODE roundtrip: COUNT sequential {self(), I} -> {echo, NODE} -> I
%%        after 1000 rounds of warm-up.
%%        Prints: roundtrip count=N p50_us=X p99_us=Y
%%   MODE setup: one connection first (reported apart), then COUNT times a
%%        fresh connection + handshake + net_adm:ping reply, disconnecting
%%        between rounds.  Prints: setup count=N p50_ms=X p99_ms=Y
%%   MODE spawn_idle: NODE and SIZE are ignored; COUNT processes waiting in
%%        receive, resident memory before and after.
%%        Prints: spawn_idle count=N rss_before_kib=A rss_after_kib=B bytes_per_process=X
%%
%% Lines before the last: `cpu client_s=X [server_s=Y]' (user + system CPU
%% seconds of the timed part, from /proc/PID/stat: this node, and the node
%% under test when server_pid=PID is given) and, over TLS, `tls version=V
%% suite=S' as negotiated on the distribution connection.

-module(beamlink_bench).
-export([start/0, run/1]).

-define(WARMUP_US, 300000).
-define(WARMUP_BYTES, 268435456).
-define(WARMUP_ROUNDS, 1000).
-define(TIMEOUT_MS, 60000).
-define(USER_HZ, 100).

%% ---------------------------------------------------------------------
%% The services

start() ->
    register(sink, spawn(fun() -> sink(0) end)),
    register(echo, spawn(fun echo/0)),
    io:format("ready ~s~n", [node()]).

sink(N) ->
    receive
        {done, From} when is_pid(From) ->
            From ! {count, N},
            sink(0);
        _ ->
            sink(N + 1)
    end.

echo() ->
    receive
        {'$gen_call', From, Request} ->
            gen:reply(From, Request);
        {From, Term} when is_pid(From) ->
            From ! Term;
        _ ->
            ok
    end,
    echo().

%% ---------------------------------------------------------------------
%% The load generator

run([NodeS, ModeS, SizeS, CountS | Opts]) ->
    Options = [parse_option(O) || O <- Opts],
    Outcome =
        try
            measure(list_to_atom(ModeS), list_to_atom(NodeS), list_to_integer(SizeS),
                    list_to_integer(CountS), Options)
        catch
            throw:Reason -> {error, Reason};
            Class:Reason:Stack -> {error, {Class, Reason, Stack}}
        end,
    case Outcome of
        {error, Why} ->
            io:format(standard_error, "error: ~p~n", [Why]),
            halt(1);
        Line ->
            io:format("~s~n", [Line]),
            halt(0)
    end;
run(Args) ->
    io:format(standard_error, "usage: run NODE MODE SIZE COUNT [seconds=S] [server_pid=PID]; got ~p~n", [Args]),
    halt(2).

parse_option(Text) ->
    case string:split(Text, "=") of
        ["seconds", S] -> {seconds, to_number(S)};
        ["server_pid", P] -> {server_pid, list_to_integer(P)};
        _ -> throw({unknown_option, Text})
    end.

to_number(S) ->
    try list_to_float(S) catch error:badarg -> float(list_to_integer(S)) end.

measure(spawn_idle, _Node, _Size, Count, _Options) ->
    spawn_idle(Count);
measure(Mode, Node, Size, Count, Options) ->
    Server = proplists:get_value(server_pid, Options),
    case Mode of
        setup ->
            setup(Node, Count, Server);
        _ ->
            connect(Node),
            print_tls(Node),
            case Mode of
                throughput -> throughput(Node, Size, Count, proplists:get_value(seconds, Options), Server);
                roundtrip -> roundtrip(Node, Count, Server);
                _ -> throw({unknown_mode, Mode})
            end
    end.

connect(Node) ->
    case net_kernel:connect_node(Node) of
        true -> ok;
        _ -> throw({cannot_connect, Node})
    end.

%% Throughput ----------------------------------------------------------

throughput(Node, Size, Count, Seconds, Server) ->
    Sink = {sink, Node},
    Bin = binary:copy(<<16#5a>>, Size),
    Cap = case Count of 0 when Seconds =/= undefined -> infinity; _ -> Count end,
    WarmStart = now_us(),
    WarmCap = min(Cap, max(1, ?WARMUP_BYTES div max(1, Size))),
    Warm = warm_up(Sink, Bin, WarmCap, WarmStart + ?WARMUP_US, 0),
    case done_round(Sink) of
        Warm -> ok;
        Counted -> throw({warm_up_count, Counted, Warm})
    end,
    Rate = Warm / max(1.0e-9, (now_us() - WarmStart) / 1.0e6),
    N = case Seconds of
            undefined -> Cap;
            _ -> min(Cap, max(1, ceil(Rate * Seconds)))
        end,
    Cpu = cpu_start(Server),
    Start = now_us(),
    send_n(Sink, Bin, N),
    M = done_round(Sink),
    Elapsed = max(1.0e-9, (now_us() - Start) / 1.0e6),
    io:format("~s~n", [cpu_stop(Cpu)]),
    M =:= N orelse throw({sink_counted, M, sent, N}),
    io_lib:format("throughput size=~b count=~b msgs_per_s=~b mb_per_s=~.1f",
                  [Size, N, round(N / Elapsed), N * Size / Elapsed / 1.0e6]).

warm_up(_Sink, _Bin, Cap, _Deadline, W) when W >= Cap ->
    W;
warm_up(Sink, Bin, Cap, Deadline, W) ->
    case W > 0 andalso now_us() >= Deadline of
        true ->
            W;
        false ->
            Sink ! Bin,
            warm_up(Sink, Bin, Cap, Deadline, W + 1)
    end.

send_n(_Sink, _Bin, 0) ->
    ok;
send_n(Sink, Bin, N) ->
    Sink ! Bin,
    send_n(Sink, Bin, N - 1).

done_round(Sink) ->
    Sink ! {done, self()},
    receive
        {count, M} -> M
    after ?TIMEOUT_MS ->
        throw({no_count_reply, Sink})
    end.

%% Round trips ---------------------------------------------------------

roundtrip(Node, Count, Server) ->
    Echo = {echo, Node},
    _ = rounds(Echo, ?WARMUP_ROUNDS, []),
    Cpu = cpu_start(Server),
    Samples = rounds(Echo, Count, []),
    io:format("~s~n", [cpu_stop(Cpu)]),
    {P50, P99} = percentiles([S / 1000 || S <- Samples]),
    io_lib:format("roundtrip count=~b p50_us=~.1f p99_us=~.1f", [Count, P50, P99]).

%% Sample times in nanoseconds.
rounds(_Echo, 0, Acc) ->
    Acc;
rounds(Echo, I, Acc) ->
    Start = erlang:monotonic_time(nanosecond),
    Echo ! {self(), I},
    receive
        I -> ok
    after ?TIMEOUT_MS ->
        throw({no_echo, Echo, I})
    end,
    rounds(Echo, I - 1, [erlang:monotonic_time(nanosecond) - Start | Acc]).

%% Connection set-up ---------------------------------------------------

setup(Node, Count, Server) ->
    First = connect_once(Node),
    print_tls_after_ping(Node),
    io:format("setup_first ms=~.3f~n", [First / 1.0e6]),
    Cpu = cpu_start(Server),
    Samples = [connect_once(Node) || _ <- lists:seq(1, Count)],
    io:format("~s~n", [cpu_stop(Cpu)]),
    {P50, P99} = percentiles([S / 1.0e6 || S <- Samples]),
    io_lib:format("setup count=~b p50_ms=~.3f p99_ms=~.3f", [Count, P50, P99]).

%% Connect + handshake + one ping reply, timed (ns); then disconnect and
%% wait (not timed) until the connection is gone here and, a moment later,
%% on the peer's side.
connect_once(Node) ->
    Start = erlang:monotonic_time(nanosecond),
    pong = net_adm:ping(Node),
    Took = erlang:monotonic_time(nanosecond) - Start,
    erlang:disconnect_node(Node),
    wait_gone(Node, now_us() + ?TIMEOUT_MS * 1000),
    timer:sleep(5),
    Took.

wait_gone(Node, Deadline) ->
    case lists:member(Node, nodes(connected)) of
        false -> ok;
        true ->
            now_us() > Deadline andalso throw({still_connected, Node}),
            timer:sleep(1),
            wait_gone(Node, Deadline)
    end.

%% Memory --------------------------------------------------------------

spawn_idle(Count) ->
    garbage_collect(),
    timer:sleep(300),
    Before = rss_kib(),
    spawn_n(Count),
    timer:sleep(500),
    After = rss_kib(),
    io_lib:format("spawn_idle count=~b rss_before_kib=~b rss_after_kib=~b bytes_per_process=~b",
                  [Count, Before, After, round(max(0, After - Before) * 1024 / max(1, Count))]).

spawn_n(0) ->
    ok;
spawn_n(N) ->
    spawn(fun idle/0),
    spawn_n(N - 1).

idle() ->
    receive
        stop -> ok
    end.

rss_kib() ->
    {ok, Text} = file:read_file("/proc/self/status"),
    [Line] = [L || L <- binary:split(Text, <<"\n">>, [global]), binary:match(L, <<"VmRSS:">>) =:= {0, 6}],
    [_, Kib | _] = binary:split(Line, [<<" ">>, <<"\t">>], [global, trim_all]),
    binary_to_integer(Kib).

%% CPU time from /proc ---------------------------------------------------

cpu_start(Server) ->
    {Server, cpu_seconds(os:getpid()), cpu_seconds(Server)}.

cpu_stop({Server, Client0, Server0}) ->
    Delta = fun(_, undefined) -> "na";
               (undefined, _) -> "na";
               (Now, Before) -> io_lib:format("~.2f", [Now - Before])
            end,
    Line = io_lib:format("cpu client_s=~s", [Delta(cpu_seconds(os:getpid()), Client0)]),
    case Server of
        undefined -> Line;
        _ -> [Line, io_lib:format(" server_s=~s", [Delta(cpu_seconds(Server), Server0)])]
    end.

cpu_seconds(undefined) ->
    undefined;
cpu_seconds(Pid) when is_integer(Pid) ->
    cpu_seconds(integer_to_list(Pid));
cpu_seconds(Pid) ->
    case file:read_file("/proc/" ++ Pid ++ "/stat") of
        {ok, Text} ->
            %% Fields are counted after the command name's closing parenthesis.
            {Pos, 1} = lists:last(binary:matches(Text, <<")">>)),
            Rest = binary:part(Text, Pos + 1, byte_size(Text) - Pos - 1),
            Fields = binary:split(Rest, <<" ">>, [global, trim_all]),
            Utime = binary_to_integer(lists:nth(12, Fields)),
            Stime = binary_to_integer(lists:nth(13, Fields)),
            (Utime + Stime) / ?USER_HZ;
        _ ->
            undefined
    end.

%% TLS details of the distribution connection ----------------------------

print_tls(Node) ->
    case tls_info(Node) of
        {ok, Version, Suite} -> io:format("tls version=~s suite=~s~n", [Version, Suite]);
        none -> ok
    end.

%% In setup mode the connection is gone after each round: look while the
%% first one is still being made.
print_tls_after_ping(Node) ->
    pong = net_adm:ping(Node),
    print_tls(Node),
    erlang:disconnect_node(Node),
    wait_gone(Node, now_us() + ?TIMEOUT_MS * 1000),
    timer:sleep(5).

%% With inet_tls_dist the connection's controller is the TLS sender
%% process; its supervisor also supervises the TLS connection process (the
%% `receiver'), which answers ssl:connection_information/2. The question is
%% asked from a helper process with a time limit, so an OTP release laid out
%% differently cannot hang the generator.
tls_info(Node) ->
    case init:get_argument(proto_dist) of
        {ok, [["inet_tls"]]} ->
            try
                {Node, Ctrl} = lists:keyfind(Node, 1, erlang:system_info(dist_ctrl)),
                {dictionary, Dict} = process_info(Ctrl, dictionary),
                [Sup | _] = proplists:get_value('$ancestors', Dict),
                {receiver, Receiver, _, _} = lists:keyfind(receiver, 1, supervisor:which_children(Sup)),
                ask_tls(Receiver, Ctrl)
            catch
                _:_ -> none
            end;
        _ ->
            none
    end.

ask_tls(Receiver, Ctrl) ->
    Self = self(),
    Ref = make_ref(),
    spawn(fun() ->
                  Socket = {sslsocket, nil, [Receiver, Ctrl]},
                  Self ! {Ref, catch ssl:connection_information(Socket, [protocol, selected_cipher_suite])}
          end),
    receive
        {Ref, {ok, Info}} ->
            case {proplists:get_value(protocol, Info), proplists:get_value(selected_cipher_suite, Info)} of
                {Version, Suite} when Version =/= undefined, is_map(Suite) -> {ok, Version, suite_name(Suite)};
                _ -> none
            end;
        {Ref, _} ->
            none
    after 1000 ->
        none
    end.

suite_name(Suite) ->
    try ssl:suite_to_str(Suite) catch _:_ -> io_lib:format("~p", [Suite]) end.

%% Helpers -------------------------------------------------------------

now_us() ->
    erlang:monotonic_time(microsecond).

%% Nearest-rank 50th and 99th percentiles.
percentiles([]) ->
    {0.0, 0.0};
percentiles(Samples) ->
    Sorted = list_to_tuple(lists:sort(Samples)),
    N = tuple_size(Sorted),
    Rank = fun(P) -> element(max(1, min(N, ceil(P / 100 * N))), Sorted) end,
    {float(Rank(50)), float(Rank(99))}.
