"""Wire formats and sans-I/O conversations: gwload control messages (and the client's
requests, ``gwloadclient``) and TFTP.

Nothing here opens a socket or reads a clock: conversations take bytes and the
current time and return bytes and their next deadline. ``proto.node`` declares the
one shape of every sans-I/O node and the pump that drives any of them.
"""
