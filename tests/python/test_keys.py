#!/usr/bin/env python3
"""`recomp keys new NAME` writes a CURVE keypair that an implementation we did not write
(pyzmq's zmq.auth, reading czmq's zcert format) loads, with the secret file mode 0600, the
public file without the secret, and never overwrites a key; the two keys work together in a
CURVE handshake between pyzmq sockets."""
import os
import stat
import sys

import zmq
import zmq.auth

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402


class Keys(rt.PoolTestCase):
    def test_keys_new_writes_a_pair_pyzmq_loads_and_uses(self):
        d = self.tmp.join("keys")
        out = rt.run([rt.RECOMP_BIN, "keys", "new", "server", "--dir", d, "--role", "reader"])
        rt.run([rt.RECOMP_BIN, "keys", "new", "client", "--dir", d])
        self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(d, "server.key")).st_mode), 0o600)
        server_pub, server_sec = zmq.auth.load_certificate(os.path.join(d, "server.key"))
        self.assertIsNotNone(server_sec)
        pub_only, none = zmq.auth.load_certificate(os.path.join(d, "server.pub"))
        self.assertEqual(pub_only, server_pub)
        self.assertIsNone(none)
        self.assertEqual(zmq.curve_public(server_sec), server_pub)
        self.assertIn("%s server reader" % server_pub.decode(), out.stdout)

        again = rt.run([rt.RECOMP_BIN, "keys", "new", "server", "--dir", d], check=False)
        self.assertNotEqual(again.returncode, 0)
        self.assertEqual(zmq.auth.load_certificate(os.path.join(d, "server.key"))[1], server_sec)

        # The pair works: a CURVE handshake over loopback between pyzmq sockets.
        client_pub, client_sec = zmq.auth.load_certificate(os.path.join(d, "client.key"))
        ctx = zmq.Context()
        try:
            srv = ctx.socket(zmq.REP)
            srv.curve_server = True
            srv.curve_secretkey = server_sec
            srv.curve_publickey = server_pub
            port = srv.bind_to_random_port("tcp://127.0.0.1")
            cli = ctx.socket(zmq.REQ)
            cli.curve_serverkey = server_pub
            cli.curve_publickey = client_pub
            cli.curve_secretkey = client_sec
            cli.connect("tcp://127.0.0.1:%d" % port)
            cli.send(b"ping")
            self.assertTrue(srv.poll(5000))
            self.assertEqual(srv.recv(), b"ping")
            srv.send(b"pong")
            self.assertTrue(cli.poll(5000))
            self.assertEqual(cli.recv(), b"pong")
        finally:
            ctx.destroy(linger=0)


if __name__ == "__main__":
    rt.main()
