"""Wire formats and sans-I/O conversations.

``node`` declares the one shape of every sans-I/O node and the pump that drives any
of them; ``impair`` is what an impaired link does to datagrams. The wire formats and
their conversations: ``gwload`` (control messages) and ``gwloadclient`` (the client's
requests), ``tftp`` (packets, transfers, the client and server roles), ``dhcp`` and
``dhcpvendor``, ``netbios`` and ``netbiosnames``, ``sip`` with ``sipheaders`` and
``sipdigest`` (digest authentication), ``sdp``, ``rtp``, ``http``; ``net`` holds
addresses, datagrams and what a network offers a device.

Nothing here opens a socket or reads a clock: conversations take bytes and the
current time and return bytes, events and their next deadline.
"""
