/* A C node client: connects to a beamlink node, rpc-calls it, sends terms
 * to its `echo` service and checks that each comes back byte for byte.
 * Usage: client ALIVE HOST PEER COOKIE. Prints one line per step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ei.h>

static ei_cnode ec;

static void die(const char *what) {
    printf("FAIL %s erl_errno=%d\n", what, erl_errno);
    exit(1);
}

static void print_term(const char *label, const char *buf, int idx) {
    char *s = NULL;
    if (ei_s_print_term(&s, buf, &idx) < 0) die("ei_s_print_term");
    printf("%s %s\n", label, s);
    free(s);
}

/* ei_rpc M:F(Args), Args given as an encoder callback; prints the reply. */
static void rpc(int fd, const char *label, char *mod, char *fun, void (*args)(ei_x_buff *)) {
    ei_x_buff in, out;
    ei_x_new(&in);
    args(&in);
    ei_x_new(&out);
    if (ei_rpc(&ec, fd, mod, fun, in.buff, in.index, &out) < 0) die(label);
    print_term(label, out.buff, 0);
    ei_x_free(&in);
    ei_x_free(&out);
}

static void no_args(ei_x_buff *x) { ei_x_encode_empty_list(x); }
static void echo_name(ei_x_buff *x) {
    ei_x_encode_list_header(x, 1);
    ei_x_encode_atom(x, "echo");
    ei_x_encode_empty_list(x);
}
static void two_args(ei_x_buff *x) {
    ei_x_encode_list_header(x, 2);
    ei_x_encode_long(x, 1);
    ei_x_encode_atom(x, "two");
    ei_x_encode_empty_list(x);
}

/* A nested tuple/list/map/binary/bignum/float/atom/negative int/string/pid. */
static void rich(ei_x_buff *x) {
    ei_x_encode_tuple_header(x, 10);
    ei_x_encode_atom(x, "rich");
    ei_x_encode_long(x, -123456789L);
    ei_x_encode_long(x, -1);
    ei_x_encode_double(x, 3.25);
    ei_x_encode_binary(x, "\0\1\2binary\377", 10);
    ei_x_encode_list_header(x, 3);
    ei_x_encode_long(x, 255);
    ei_x_encode_string(x, "str");
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "nested");
    ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
    ei_x_encode_map_header(x, 2);
    ei_x_encode_atom(x, "k");
    ei_x_encode_ulonglong(x, 18446744073709551615ULL);
    ei_x_encode_binary(x, "key", 3);
    ei_x_encode_longlong(x, -9223372036854775807LL - 1);
    erlang_big *big = ei_alloc_big(20);
    big->is_neg = 1;
    memset(big->digits, 0xab, 20);
    ei_x_encode_big(x, big);
    ei_free_big(big);
    ei_x_encode_atom_len_as(x, "h\xc3\xa9llo", 6, ERLANG_UTF8, ERLANG_UTF8);
    ei_x_encode_pid(x, ei_self(&ec));
}

static void large(ei_x_buff *x) {
    static char data[200000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (char)(i * 7);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "large");
    ei_x_encode_binary(x, data, sizeof data);
}

/* Sends {self(), Term} to echo and compares what comes back with Term's bytes. */
static void echo(int fd, const char *label, void (*term)(ei_x_buff *)) {
    ei_x_buff msg;
    ei_x_new_with_version(&msg);
    ei_x_encode_tuple_header(&msg, 2);
    ei_x_encode_pid(&msg, ei_self(&ec));
    int start = msg.index;
    term(&msg);
    int len = msg.index - start;
    if (ei_reg_send(&ec, fd, "echo", msg.buff, msg.index) < 0) die("ei_reg_send");
    if (strcmp(label, "ECHO_RICH") == 0) {
        printf("SENT ");
        for (int i = 0; i < len; i++) printf("%02x", (unsigned char)msg.buff[start + i]);
        printf("\n");
    }
    erlang_msg m;
    ei_x_buff in;
    ei_x_new(&in);
    for (;;) {
        int r = ei_xreceive_msg_tmo(fd, &m, &in, 10000);
        if (r == ERL_TICK) continue;
        if (r == ERL_ERROR) die("ei_xreceive_msg");
        if (m.msgtype == ERL_SEND) break;
    }
    int idx = 0, version;
    if (ei_decode_version(in.buff, &idx, &version) < 0) die("version");
    int got = in.index - idx;
    if (got == len && memcmp(in.buff + idx, msg.buff + start, len) == 0)
        printf("%s EXACT %d\n", label, len);
    else
        printf("%s DIFFERS sent %d bytes, got %d\n", label, len, got);
    ei_x_free(&msg);
    ei_x_free(&in);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: client ALIVE HOST PEER COOKIE\n");
        return 2;
    }
    char self[512];
    snprintf(self, sizeof self, "%s@%s", argv[1], argv[2]);
    if (ei_init() != 0) die("ei_init");
    if (ei_connect_xinit(&ec, argv[2], argv[1], self, NULL, argv[4], 0) < 0) die("ei_connect_xinit");
    int fd = ei_connect_tmo(&ec, argv[3], 10000);
    if (fd < 0) die("ei_connect");
    printf("CONNECTED %s\n", self);
    rpc(fd, "RPC_NODE", "erlang", "node", no_args);
    rpc(fd, "RPC_WHEREIS", "erlang", "whereis", echo_name);
    rpc(fd, "RPC_UNDEF", "nosuch", "fn", two_args);
    echo(fd, "ECHO_RICH", rich);
    echo(fd, "ECHO_LARGE", large);
    printf("DONE\n");
    return 0;
}
