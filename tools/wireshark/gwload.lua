-- gwload.lua: a Wireshark dissector for ipgwsim's gwload control messages.
--
-- Written from docs/gwload-protocol.md, "The gwload protocol, version 1 (the project's
-- contract)", section 3 "Control messages" and section 6 (its "Parsing" rules). gwload
-- shares its UDP port (69 by default) with TFTP, so the dissector is a heuristic one on
-- UDP: it claims a datagram only when it looks like gwload (rule below) and leaves
-- everything else, TFTP above all, to Wireshark's own dissectors. Because Wireshark asks
-- a port's own dissector before the heuristic ones, on the gwload port it also takes
-- TFTP's place and hands TFTP's datagrams on to it (at the end of this file).
--
-- The heuristic's rule:
--   * a datagram that is exactly one whole message is gwload, on any UDP port: its opcode
--     is 0x4701-0x4707, its version byte 1, its body parses (strings 7-bit ASCII) and
--     ends where the datagram ends (DISCOVER, GO and RESET 16 bytes, SETIP 28, ACK 18,
--     HELLO and NAK as their strings say); a raw-UDP MPEG-TS packet, which starts with
--     the same bytes, is left alone;
--   * on the gwload port (the preference "gwload.port", 69 unless changed) every datagram
--     whose opcode is 0x4701-0x47FF is gwload too; one that does not parse is shown as a
--     malformed gwload message (TFTP's opcodes are 1-6, so none of TFTP's is taken).
--
-- "Decode As" gwload on a port shows gwload messages there and hands every other
-- datagram of that port to Wireshark's TFTP dissector.
--
-- Install: `ipgwsim wireshark --install`, or for one run `wireshark -X lua_script:gwload.lua`.

local gwload = Proto("gwload", "ipgwsim gwload")

local OPCODES = {
    [0x4701] = "DISCOVER",
    [0x4702] = "HELLO",
    [0x4703] = "SETIP",
    [0x4704] = "GO",
    [0x4705] = "RESET",
    [0x4706] = "ACK",
    [0x4707] = "NAK",
}

local STATES = {
    [1] = "TFTP mode",
    [2] = "TFTP mode after a long reset",
    [3] = "TFTP mode because the firmware is defective",
}

local NAK_CODES = {
    [1] = "wrong gwtype",
    [2] = "bad address",
    [3] = "not supported by this boot code",
    [4] = "busy (a transfer is running)",
    [5] = "nothing to start (no valid firmware)",
}

local HEADER_LEN = 16

local f = gwload.fields
f.opcode = ProtoField.uint16("gwload.opcode", "Opcode", base.HEX, OPCODES)
f.version = ProtoField.uint8("gwload.version", "Version", base.DEC)
f.flags = ProtoField.uint8("gwload.flags", "Flags", base.HEX)
f.xid = ProtoField.uint32("gwload.xid", "Transaction ID", base.HEX)
f.mac = ProtoField.ether("gwload.mac", "MAC")
f.gwtype = ProtoField.uint16("gwload.gwtype", "Gateway type", base.DEC)
f.ip = ProtoField.ipv4("gwload.ip", "IP address")
f.mask = ProtoField.ipv4("gwload.mask", "Mask")
f.gateway = ProtoField.ipv4("gwload.gateway", "Gateway")
f.state = ProtoField.uint8("gwload.state", "State", base.DEC, STATES)
f.boot_build = ProtoField.uint16("gwload.boot_build", "Boot code build", base.DEC)
f.model_len = ProtoField.uint8("gwload.model_len", "Model length", base.DEC)
f.model = ProtoField.string("gwload.model", "Model")
f.firmware_len = ProtoField.uint8("gwload.firmware_build_len", "Firmware build length", base.DEC)
f.firmware = ProtoField.string("gwload.firmware_build", "Firmware build")
f.config_len = ProtoField.uint8("gwload.config_name_len", "Config file name length", base.DEC)
f.config = ProtoField.string("gwload.config_name", "Config file name")
f.acked = ProtoField.uint16("gwload.acked", "Acknowledged opcode", base.HEX, OPCODES)
f.nak_code = ProtoField.uint16("gwload.nak_code", "NAK code", base.DEC, NAK_CODES)
f.nak_text_len = ProtoField.uint8("gwload.nak_text_len", "NAK text length", base.DEC)
f.nak_text = ProtoField.string("gwload.nak_text", "NAK text")
f.trailing = ProtoField.bytes("gwload.trailing", "Bytes after the body")

local e_malformed = ProtoExpert.new(
    "gwload.malformed", "Malformed gwload message", expert.group.MALFORMED, expert.severity.ERROR
)
local e_unknown = ProtoExpert.new(
    "gwload.unknown_value", "Value the contract does not define", expert.group.UNDECODED,
    expert.severity.NOTE
)
local e_trailing = ProtoExpert.new(
    "gwload.trailing_bytes", "Bytes after the body (ignored by version 1)",
    expert.group.PROTOCOL, expert.severity.NOTE
)
gwload.experts = { e_malformed, e_unknown, e_trailing }

gwload.prefs.port = Pref.uint(
    "UDP port", 69,
    "The devices' port: 0x47xx datagrams on it are gwload, the rest TFTP; 0 = none"
)

local tftp = Dissector.get("tftp")

-- Reads the body field by field; `need` marks a field missing when the datagram ends early.
local Reader = {}
Reader.__index = Reader

local function reader(tvb, tree, offset)
    return setmetatable({ tvb = tvb, tree = tree, offset = offset, ok = true }, Reader)
end

function Reader:need(size, what)
    if not self.ok then
        return false
    end
    if self.offset + size > self.tvb:len() then
        local left = self.tvb:len() - self.offset
        self.tree:add_proto_expert_info(
            e_malformed,
            string.format("%s: needs %d bytes at offset %d, the datagram has %d", what, size,
                self.offset, left)
        )
        self.ok = false
        return false
    end
    return true
end

function Reader:field(field, size, what)
    if not self:need(size, what) then
        return nil
    end
    local range = self.tvb(self.offset, size)
    local item = self.tree:add(field, range)
    self.offset = self.offset + size
    return range, item
end

function Reader:string(len_field, field, what)
    local range = self:field(len_field, 1, what .. " length")
    if range == nil then
        return nil
    end
    local size = range:uint()
    if not self:need(size, what) then
        return nil
    end
    local text = self.tvb(self.offset, size)
    self.tree:add(field, text)
    self.offset = self.offset + size
    return text:string()
end

local function mac_text(range)
    local parts = {}
    for i = 0, range:len() - 1 do
        parts[#parts + 1] = string.format("%02x", range(i, 1):uint())
    end
    return table.concat(parts, ":")
end

local function ipv4_text(range)
    return tostring(range:ipv4())
end

local BODIES = {}

BODIES[0x4702] = function(r)
    local ip = r:field(f.ip, 4, "HELLO ip")
    local mask = r:field(f.mask, 4, "HELLO mask")
    local state, state_item = r:field(f.state, 1, "HELLO state")
    if state ~= nil and STATES[state:uint()] == nil then
        state_item:add_proto_expert_info(e_unknown, "unknown state " .. state:uint())
    end
    r:field(f.boot_build, 2, "HELLO boot build")
    local model = r:string(f.model_len, f.model, "HELLO model")
    r:string(f.firmware_len, f.firmware, "HELLO firmware build")
    r:string(f.config_len, f.config, "HELLO config file name")
    if model ~= nil and ip ~= nil and mask ~= nil then
        return string.format("%s %s/%s", model, ipv4_text(ip), ipv4_text(mask))
    end
end

BODIES[0x4703] = function(r)
    local ip = r:field(f.ip, 4, "SETIP ip")
    local mask = r:field(f.mask, 4, "SETIP mask")
    local gateway = r:field(f.gateway, 4, "SETIP gateway")
    if gateway ~= nil then
        return string.format("%s/%s gateway %s", ipv4_text(ip), ipv4_text(mask),
            ipv4_text(gateway))
    end
end

BODIES[0x4706] = function(r)
    local acked = r:field(f.acked, 2, "ACK opcode")
    if acked ~= nil then
        return "of " .. (OPCODES[acked:uint()] or string.format("0x%04x", acked:uint()))
    end
end

BODIES[0x4707] = function(r)
    local code, code_item = r:field(f.nak_code, 2, "NAK code")
    if code ~= nil and NAK_CODES[code:uint()] == nil then
        code_item:add_proto_expert_info(e_unknown, "unknown NAK code " .. code:uint())
    end
    local text = r:string(f.nak_text_len, f.nak_text, "NAK text")
    if text ~= nil then
        return string.format("%d \"%s\"", code:uint(), text)
    end
end

local function is_gwload_opcode(tvb)
    return tvb:len() >= 2 and tvb(0, 1):uint() == 0x47 and tvb(1, 1):uint() ~= 0
end

local function dissect_gwload(tvb, pinfo, tree)
    pinfo.cols.protocol = "gwload"
    local root = tree:add(gwload, tvb())
    local opcode = tvb(0, 2):uint()
    local name = OPCODES[opcode]
    local opcode_item = root:add(f.opcode, tvb(0, 2))
    local r = reader(tvb, root, 2)
    local info = name or string.format("opcode 0x%04x", opcode)
    -- An unknown opcode or version is malformed: its header is shown, its body is not.
    local known = name ~= nil
    if not known then
        opcode_item:add_proto_expert_info(
            e_malformed, string.format("unknown gwload opcode 0x%04x", opcode)
        )
    end
    local version, version_item = r:field(f.version, 1, "version")
    if version ~= nil and version:uint() ~= 1 then
        version_item:add_proto_expert_info(
            e_malformed, string.format("version %d: only version 1 is defined", version:uint())
        )
        known = false
    end
    r:field(f.flags, 1, "flags")
    local xid = r:field(f.xid, 4, "xid")
    local mac = r:field(f.mac, 6, "mac")
    local gwtype = r:field(f.gwtype, 2, "gwtype")
    if xid ~= nil then
        info = string.format("%s xid=0x%08x", info, xid:uint())
    end
    if mac ~= nil and gwtype ~= nil then
        info = string.format("%s mac=%s gwtype=%d", info, mac_text(mac), gwtype:uint())
    end
    local body = BODIES[opcode]
    if known and body ~= nil then
        local summary = body(r)
        if summary ~= nil then
            info = info .. " " .. summary
        end
    end
    if known and r.ok and r.offset < tvb:len() then
        local extra = root:add(f.trailing, tvb(r.offset))
        extra:add_proto_expert_info(e_trailing)
    end
    if not (known and r.ok) then
        info = info .. " [malformed]"
    end
    pinfo.cols.info = info
    root:set_len(tvb:len())
    return tvb:len()
end

-- The bodies' layouts, for the heuristic: "ip" 4 bytes, a number that many bytes,
-- "string" a length byte and that many 7-bit ASCII bytes.
local LAYOUTS = {
    [0x4701] = {},
    [0x4702] = { 4, 4, 1, 2, "string", "string", "string" },
    [0x4703] = { 4, 4, 4 },
    [0x4704] = {},
    [0x4705] = {},
    [0x4706] = { 2 },
    [0x4707] = { 2, "string" },
}

-- The length of the whole message `tvb` starts with (header and body, nothing after it),
-- or nil when its header or body does not parse.
local function message_length(tvb)
    local len = tvb:len()
    if len < HEADER_LEN or tvb(2, 1):uint() ~= 1 then
        return nil
    end
    local layout = LAYOUTS[tvb(0, 2):uint()]
    if layout == nil then
        return nil
    end
    local offset = HEADER_LEN
    for _, part in ipairs(layout) do
        if part == "string" then
            if offset + 1 > len then
                return nil
            end
            local size = tvb(offset, 1):uint()
            offset = offset + 1
            if offset + size > len then
                return nil
            end
            for i = offset, offset + size - 1 do
                if tvb(i, 1):uint() >= 0x80 then
                    return nil
                end
            end
            offset = offset + size
        else
            offset = offset + part
            if offset > len then
                return nil
            end
        end
    end
    return offset
end

local function looks_like_gwload(tvb, pinfo)
    if not is_gwload_opcode(tvb) then
        return false
    end
    local port = gwload.prefs.port
    if pinfo.src_port == port or pinfo.dst_port == port then
        return true
    end
    -- Elsewhere only one whole message and nothing after it: an MPEG-TS packet (sync byte
    -- 0x47, PID 0x101-0x701) starts like a gwload header too.
    return message_length(tvb) == tvb:len()
end

local function heuristic(tvb, pinfo, tree)
    if not looks_like_gwload(tvb, pinfo) then
        return false
    end
    dissect_gwload(tvb, pinfo, tree)
    return true
end

-- The dissector that "Decode As" gives a port: gwload where the first byte says so,
-- Wireshark's TFTP dissector for the rest of that port's datagrams.
function gwload.dissector(tvb, pinfo, tree)
    if is_gwload_opcode(tvb) then
        return dissect_gwload(tvb, pinfo, tree)
    end
    if tftp ~= nil then
        return tftp:call(tvb, pinfo, tree)
    end
    return 0
end

gwload:register_heuristic("udp", heuristic)

-- On the gwload port, gwload takes the place of the port's dissector (TFTP on 69), because
-- Wireshark tries a port's dissector before the heuristic ones: gwload.dissector hands
-- every datagram that is not gwload on to TFTP. Changing the preference moves it, and
-- gives the old port back the dissector it had.
local udp_port = DissectorTable.get("udp.port")
udp_port:add_for_decode_as(gwload)
local registered_port = nil
local replaced = nil

local function register_port()
    if registered_port ~= nil then
        udp_port:remove(registered_port, gwload)
        if replaced ~= nil then
            udp_port:add(registered_port, replaced)
        end
        registered_port, replaced = nil, nil
    end
    local port = gwload.prefs.port
    if port ~= 0 then
        replaced = udp_port:get_dissector(port)
        udp_port:add(port, gwload)
        registered_port = port
    end
end

function gwload.prefs_changed()
    if gwload.prefs.port ~= registered_port then
        register_port()
    end
end

register_port()
