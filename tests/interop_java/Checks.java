// jinterface peers of a beamlink node, one mode per run; each prints one
// line per step for the Rust test to check.
//   client SELF PEER COOKIE  ping, echo round trips, OtpConnection RPC
//   links SELF PEER COOKIE   links with the peer's `victim` and `watcher`
//   server SELF COOKIE       a node with `jbox` and `rex` mailboxes, until stdin closes
import com.ericsson.otp.erlang.*;
import java.math.BigInteger;

public class Checks {
    static OtpErlangTuple tuple(OtpErlangObject... items) {
        return new OtpErlangTuple(items);
    }

    static OtpErlangAtom atom(String name) {
        return new OtpErlangAtom(name);
    }

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "client": client(args[1], args[2], args[3]); break;
            case "links": links(args[1], args[2], args[3]); break;
            case "server": server(args[1], args[2]); break;
            default: throw new IllegalArgumentException(args[0]);
        }
        System.out.flush();
        System.exit(0);
    }

    static void client(String self, String peer, String cookie) throws Exception {
        OtpNode node = new OtpNode(self, cookie);
        System.out.println("PING " + node.ping(peer, 10000));
        OtpMbox mbox = node.createMbox();
        byte[] large = new byte[1 << 20];
        for (int i = 0; i < large.length; i++) large[i] = (byte) (i * 31);
        OtpErlangObject[] terms = {
            tuple(atom("rich"), new OtpErlangLong(-42), new OtpErlangDouble(2.5),
                new OtpErlangBinary(new byte[] {0, 1, 2, (byte) 255}), new OtpErlangString("chars"),
                new OtpErlangList(new OtpErlangObject[] {atom("a"), new OtpErlangList()}),
                new OtpErlangMap(new OtpErlangObject[] {atom("k"), new OtpErlangBinary("b".getBytes())},
                    new OtpErlangObject[] {new OtpErlangLong(1), tuple()})),
            new OtpErlangLong(new BigInteger("-123456789012345678901234567890123456789")),
            new OtpErlangLong(Long.MIN_VALUE),
            atom("h\u00e9llo \u2603"),
            mbox.self(),
            node.createRef(),
            new OtpErlangBinary(large),
            new OtpErlangList(new OtpErlangObject[] {atom("improper")}, atom("tail")),
            new OtpErlangBitstr(new byte[] {(byte) 0xf0}, 4),
        };
        for (int i = 0; i < terms.length; i++) {
            mbox.send("echo", peer, tuple(mbox.self(), terms[i]));
            OtpErlangObject back = mbox.receive(10000);
            System.out.println("ECHO " + i + " " + terms[i].equals(back));
        }
        // The same through a registered mailbox, and a message to sink.
        OtpMbox named = node.createMbox("jclient");
        named.send("echo", peer, tuple(named.self(), atom("via_named")));
        System.out.println("NAMED " + named.receive(10000));

        OtpSelf plain = new OtpSelf("conn_" + self, cookie);
        OtpConnection conn = plain.connect(new OtpPeer(peer));
        conn.sendRPC("erlang", "node", new OtpErlangList());
        System.out.println("RPC_NODE " + conn.receiveRPC());
        conn.sendRPC("erlang", "whereis", new OtpErlangList(atom("echo")));
        System.out.println("RPC_WHEREIS " + conn.receiveRPC());
        conn.sendRPC("nosuch", "fn", new OtpErlangList(new OtpErlangLong(1)));
        System.out.println("RPC_UNDEF " + conn.receiveRPC());
        conn.close();
        node.close();
    }

    /// Asks the peer's registered process NAME for its pid: `{hello, Self}` -> `{NAME, Pid}`.
    static OtpErlangPid pidOf(OtpMbox mbox, String name, String peer) throws Exception {
        mbox.send(name, peer, tuple(atom("hello"), mbox.self()));
        OtpErlangTuple reply = (OtpErlangTuple) mbox.receive(10000);
        return (OtpErlangPid) reply.elementAt(1);
    }

    static void links(String self, String peer, String cookie) throws Exception {
        OtpNode node = new OtpNode(self, cookie);
        // The beamlink process exits: the linked mailbox gets the exit.
        OtpMbox a = node.createMbox();
        OtpErlangPid victim = pidOf(a, "victim", peer);
        a.link(victim);
        a.send(victim, tuple(atom("die"), tuple(atom("shutdown"), atom("from_beamlink"))));
        try {
            OtpErlangObject m = a.receive(10000);
            System.out.println("EXIT_IN none " + m);
        } catch (OtpErlangExit e) {
            System.out.println("EXIT_IN " + e.pid().equals(victim) + " " + e.reason());
        }
        // The mailbox exits: the linked beamlink process (trapping exits) hears of it.
        OtpMbox b = node.createMbox();
        OtpErlangPid watcher = pidOf(b, "watcher", peer);
        b.link(watcher);
        System.out.println("LINKED " + b.self());
        b.exit(tuple(atom("from_java"), new OtpErlangLong(7)));
        // An exit signal sent straight to a pid, without a link.
        OtpMbox c = node.createMbox();
        OtpErlangPid target = pidOf(c, "watcher", peer);
        c.exit(target, atom("signal_only"));
        System.out.println("SIGNALLED " + c.self());
        // Waits until the watcher has reported both, then leaves.
        c.send("watcher", peer, tuple(atom("hello"), c.self()));
        System.out.println("DONE " + c.receive(10000));
        node.close();
    }

    static void server(String self, String cookie) throws Exception {
        OtpNode node = new OtpNode(self, cookie);
        OtpMbox jbox = node.createMbox("jbox");
        OtpMbox rex = node.createMbox("rex");
        Thread echo = new Thread(() -> {
            try {
                while (true) {
                    OtpErlangObject m = jbox.receive();
                    System.out.println("GOT " + m);
                    if (m instanceof OtpErlangTuple t && t.arity() == 2 && t.elementAt(0) instanceof OtpErlangPid from) {
                        jbox.send(from, tuple(atom("java_got"), t.elementAt(1)));
                    }
                }
            } catch (Exception e) {
                System.out.println("JBOX_FAILED " + e);
            }
        });
        Thread calls = new Thread(() -> {
            try {
                while (true) {
                    // {'$gen_call', {From, Tag}, {call, M, F, A, GL}} -> {Tag, Reply}
                    OtpErlangTuple m = (OtpErlangTuple) rex.receive();
                    OtpErlangTuple from = (OtpErlangTuple) m.elementAt(1);
                    OtpErlangTuple call = (OtpErlangTuple) m.elementAt(2);
                    String mod = ((OtpErlangAtom) call.elementAt(1)).atomValue();
                    String fun = ((OtpErlangAtom) call.elementAt(2)).atomValue();
                    OtpErlangObject reply = mod.equals("erlang") && fun.equals("node")
                        ? atom(node.node())
                        : tuple(call.elementAt(1), call.elementAt(2), call.elementAt(3));
                    rex.send((OtpErlangPid) from.elementAt(0), tuple(from.elementAt(1), reply));
                    System.out.println("RPC " + mod + ":" + fun);
                }
            } catch (Exception e) {
                System.out.println("REX_FAILED " + e);
            }
        });
        echo.setDaemon(true);
        calls.setDaemon(true);
        echo.start();
        calls.start();
        System.out.println("READY " + node.node());
        while (System.in.read() >= 0) {
        }
        node.close();
    }
}
