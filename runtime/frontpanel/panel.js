// The front panel of an ipgwsim runtime: one panel per device, live from /v1/watch.
//
// Plain JavaScript, no build step. It speaks the runtime's HTTP/JSON control API
// (docs/control-api.md) only: GET /v1/status, /v1/devices/D/panel and /flash; POST
// /v1/devices/D/button and /power; the event stream /v1/watch (Server-Sent Events) and
// the console WebSocket /v1/devices/D/console/ws. Every LED is drawn in the devices'
// own time: a rhythm's period is in device seconds, so at --speed 10 it runs ten times
// as fast as on a desk. Elements carry data-device and data-element for tests and
// screenshots (docs/front-panel.md lists them).
"use strict";

(() => {
  const TOKEN_KEY = "ipgwsim-ui-token";
  const TIMELINE_KEEP = 200;

  const page = {
    speed: 1,
    // The device clock: device seconds at a moment of performance.now() (ms).
    clockNow: null,
    clockReal: 0,
    panels: new Map(),
    source: null,
    asking: false,
    probing: false,
    // What is wrong with the token in the page's address, shown until the page goes.
    tokenProblem: "",
    // Following the runtime again after start() or the stream failed: the wait (ms),
    // doubling from 1 s to 30 s, back to 1 s when the stream says hello.
    retryDelay: 1000,
    retryTimer: null,
  };

  // -- the token (only off loopback) -----------------------------------------------------

  function takeFragmentToken() {
    const match = /^#token=(.+)$/.exec(window.location.hash);
    if (!match) return;
    // Out of the address bar and this tab's entry; the token is kept for this tab only.
    // The browser's history may still hold the address as it was opened, with #token=.
    history.replaceState(null, "", window.location.pathname + window.location.search);
    let value;
    try {
      value = decodeURIComponent(match[1]);
    } catch (exc) {
      page.tokenProblem =
        "the token in the page's address (#token=...) is malformed (a % not followed by " +
        "two hex digits of UTF-8): open the address `ipgwsim run` printed, or paste the token";
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, value);
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function withToken(path) {
    const t = token();
    if (!t) return path;
    return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(t);
  }

  function askToken(why) {
    page.asking = true;
    const form = document.getElementById("token-form");
    const served = window.location.host;
    // The runtime's own words say where the token is; without them, the page's.
    document.getElementById("token-why").textContent =
      why ||
      `this panel is served on ${served}, off loopback: paste the token from the ` +
        "runtime's state directory (the file ui-token that `ipgwsim run` names on its ui: line)";
    form.hidden = false;
    setLink("token needed", "bad");
  }

  function setupTokenForm() {
    const form = document.querySelector("#token-form form");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const value = document.getElementById("token-input").value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      document.getElementById("token-form").hidden = true;
      page.asking = false;
      start();
    });
  }

  // -- the control API -------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, text) {
      super(text);
      this.status = status;
    }
  }

  // keepalive: the request is finished even if the page goes away meanwhile.
  async function api(method, path, body, keepalive = false) {
    const headers = { Accept: "application/json" };
    const t = token();
    if (t) headers.Authorization = "Bearer " + t;
    const init = { method, headers, cache: "no-store", keepalive };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (exc) {
      throw new ApiError(0, `${method} ${path}: the runtime does not answer (${exc.message})`);
    }
    let doc = null;
    try {
      doc = await resp.json();
    } catch (exc) {
      doc = null;
    }
    if (doc === null || typeof doc !== "object") {
      throw new ApiError(resp.status, `${method} ${path}: HTTP ${resp.status}, not JSON`);
    }
    if (resp.status === 401) {
      askToken(doc.error);
    }
    if (!doc.ok) {
      throw new ApiError(resp.status, doc.error || `${method} ${path}: HTTP ${resp.status}`);
    }
    return doc;
  }

  function devicePath(name, rest) {
    return `/v1/devices/${encodeURIComponent(name)}${rest}`;
  }

  // -- the devices' clock ----------------------------------------------------------------

  // CLOCK: speed is how fast device time runs against real time (--speed); null for a
  // clock that only its owner moves (a test's), which the page cannot follow between
  // events: it runs the LEDs at speed 1 then and corrects at each event's time.
  function setClock(clock) {
    const known = typeof clock.speed === "number" && clock.speed > 0;
    page.speed = known ? clock.speed : 1;
    page.clockNow = clock.now;
    page.clockReal = performance.now();
    document.getElementById("clock-speed").textContent = known
      ? `speed ${page.speed}`
      : "a clock moved by its owner";
  }

  function deviceNow() {
    if (page.clockNow === null) return 0;
    return page.clockNow + ((performance.now() - page.clockReal) / 1000) * page.speed;
  }

  // An event's time is the device clock at that moment: it never runs behind it.
  function seeTime(time) {
    if (typeof time === "number" && (page.clockNow === null || time > deviceNow())) {
      page.clockNow = time;
      page.clockReal = performance.now();
    }
  }

  // -- small helpers ---------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function bytes(n) {
    if (n >= 1 << 20 && n % (1 << 10) === 0) return `${(n / (1 << 20)).toFixed(n % (1 << 20) ? 2 : 0)} MiB`;
    if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(n % (1 << 10) ? 1 : 0)} KiB`;
    return `${n} B`;
  }

  function hex(n) {
    return "0x" + n.toString(16).toUpperCase().padStart(7, "0");
  }

  // The line an event reads as (the same words as `ipgwsim watch`).
  function describe(ev) {
    switch (ev.event) {
      case "led":
        return `LED: ${ev.led}`;
      case "mode":
        return `mode: ${ev.mode} (${ev.reason})`;
      case "blink":
        return `blink ${ev.count}`;
      case "power":
        return `power off: ${ev.cause}`;
      default:
        return ev.event;
    }
  }

  function setLink(text, kind) {
    const node = document.getElementById("link-state");
    node.textContent = text;
    node.dataset.state = kind;
  }

  function showPageError(text) {
    const node = document.getElementById("page-error");
    const shown = [page.tokenProblem, text].filter(Boolean).join("; ");
    node.textContent = shown;
    node.hidden = !shown;
  }

  // -- one device's panel ----------------------------------------------------------------

  class Panel {
    constructor(device, panel) {
      this.name = device.name;
      this.info = panel;
      this.device = device;
      this.lastBlink = null; // device time of the last blink while the button is held
      this.blinks = 0;
      this.held = false; // what the page asked for last
      this.presses = 0; // the number of the last press
      this.pointer = null; // the pointer that holds the button
      this.down = false; // the runtime holds the button for this page's press
      this.since = null; // device time the button went down (the runtime's word)
      this.lastHeld = null;
      this.queue = Promise.resolve();
      this.flashTimer = null;
      this.socket = null;
      this.term = null;
      this.build();
      this.update(device);
      this.openConsole();
      this.refreshFlash();
    }

    part(name) {
      return this.root.querySelector(`[data-element="${name}"]`);
    }

    build() {
      const info = this.info;
      const ledNodes = [];
      for (const led of info.leds) {
        const ready = led.name === "ready";
        const node = el("span", {
          class: "led",
          "data-element": ready ? "ready-led" : "led",
          "data-led-name": led.name,
          "data-colours": led.colours.join(" "),
          "data-lit": "0",
          title: `${led.name}: ${led.colours.join(", ")}`,
        });
        ledNodes.push(el("div", { class: "led-slot" }, node, el("span", { class: "led-label", text: led.name })));
      }
      this.button = el("button", {
        class: "reset",
        type: "button",
        "data-element": "button",
        title:
          `reset: hold it with the mouse or Space/Enter. ${info.reset.recovery_blinks} blinks ` +
          `(${info.reset.medium_s} s or more): TFTP mode; ${info.reset.long_blinks} blinks ` +
          `(${info.reset.long_s} s): clear the config`,
        "aria-label": "reset button",
      });
      this.power = el("button", {
        class: "power",
        type: "button",
        role: "switch",
        "data-element": "power",
        "aria-checked": "true",
        title: "power switch",
      }, el("span", { class: "rocker" }));
      const faceplate = el(
        "div",
        { class: "faceplate" },
        el("div", { class: "badge" },
          el("div", { class: "model", "data-element": "model", text: info.model }),
          el("div", { class: "devname", text: this.name })),
        el("div", { class: "leds" }, ...ledNodes),
        el("div", { class: "reset-area" },
          el("div", { class: "reset-hole" }, this.button),
          el("span", { class: "led-label", text: "reset" }),
          el("div", { class: "hold", "data-element": "hold", text: "not held" }),
          el("div", { class: "blinks", "data-element": "blinks", "data-count": "0", text: "0 blinks" })),
        el("div", { class: "power-area" }, this.power, el("span", { class: "led-label", text: "power" })),
      );
      const facts = el(
        "dl",
        { class: "facts" },
        el("dt", { text: "mode" }), el("dd", { "data-element": "mode" }),
        el("dt", { text: "IP" }), el("dd", { "data-element": "ip" }),
        el("dt", { text: "MAC" }), el("dd", { "data-element": "mac" }),
        el("dt", { text: "builds" }), el("dd", { "data-element": "builds" }),
        el("dt", { text: "web" }), el("dd", { "data-element": "web" }),
      );
      this.notice = el("p", { class: "notice", hidden: "" });
      this.consoleStatus = el("div", { class: "console-status" });
      this.consoleButton = el("button", { type: "button", class: "connect", hidden: "", text: "connect" });
      this.termNode = el("div", { class: "term" });
      const consoleBox = el("div", { class: "console", "data-element": "console" },
        el("h3", { text: "console" }), this.consoleStatus, this.consoleButton, this.termNode);
      this.timelineList = el("ol", {});
      const timeline = el("div", { class: "timeline", "data-element": "timeline" },
        el("h3", { text: "events (device time)" }), this.timelineList);
      this.flashBox = el("div", { class: "flash", "data-element": "flash" },
        el("h3", { text: "flash" }), el("p", { class: "muted", text: "reading the flash" }));
      this.root = el(
        "section",
        { class: "device", "data-device": this.name, "data-model": info.model, "data-family": info.family },
        faceplate,
        this.notice,
        el("div", { class: "details" }, facts, this.flashBox),
        el("div", { class: "live" }, consoleBox, timeline),
      );
      this.wireButton();
      this.power.addEventListener("click", () => this.togglePower());
      this.consoleButton.addEventListener("click", () => this.openConsole());
    }

    // -- what DEVICE says ----------------------------------------------------------------

    update(device) {
      const wasOff = this.device && this.device.mode === "off";
      this.device = device;
      const on = device.mode !== "off";
      this.root.dataset.mode = device.mode;
      this.part("mode").textContent = device.mode;
      this.part("ip").textContent = device.ip || "none";
      this.part("mac").textContent = device.mac;
      this.part("builds").textContent =
        `boot ${device.boot_build || "none"}, firmware ${device.firmware_build || "none"}`;
      const web = this.part("web");
      web.replaceChildren();
      if (device.web) {
        web.append(el("a", { href: device.web, target: "_blank", rel: "noopener", text: device.web }));
      } else if (device.web_error) {
        web.append(el("span", { class: "bad", text: device.web_error }));
      } else if (device.mode === "running firmware") {
        web.append(el("span", { class: "muted", text: "not listening (no address yet)" }));
      } else {
        web.append(el("span", { class: "muted", text: "only while the firmware runs" }));
      }
      this.power.setAttribute("aria-checked", on ? "true" : "false");
      this.power.dataset.on = on ? "1" : "0";
      this.button.disabled = !on;
      const ready = this.part("ready-led");
      ready.dataset.led = device.led;
      const rhythm = this.info.rhythms[device.led] || { colour: null, pattern: "off" };
      ready.dataset.pattern = rhythm.pattern;
      ready.dataset.colour = rhythm.colour || "none";
      ready.dataset.period = rhythm.period_s === null || rhythm.period_s === undefined ? "" : String(rhythm.period_s);
      ready.dataset.realPeriod =
        rhythm.period_s === null || rhythm.period_s === undefined ? "" : String(rhythm.period_s / page.speed);
      for (const led of this.root.querySelectorAll('[data-element="led"]')) {
        // An interface LED: lit while the device has power (its link is the runtime's).
        led.dataset.colour = on ? led.dataset.colours.split(" ")[0] : "none";
        led.dataset.lit = on ? "1" : "0";
      }
      if (wasOff && on && (this.socket === null || this.socket.readyState > WebSocket.OPEN)) {
        this.openConsole();
      }
    }

    // One frame of the ready LED, in device time.
    draw(now) {
      const ready = this.part("ready-led");
      const rhythm = this.info.rhythms[this.device.led] || { colour: null, pattern: "off" };
      let lit = false;
      if (rhythm.pattern === "pulse") {
        // Lit for the rhythm's on-time at each blink the device reports (ButtonBlink):
        // the blinks a person counts while holding the button.
        const onS = rhythm.on_s || this.info.reset.blink_period_s / 2;
        lit = this.lastBlink !== null && now - this.lastBlink >= 0 && now - this.lastBlink < onS;
      } else if (rhythm.pattern === "steady") {
        lit = true;
      } else if (rhythm.pattern === "flashing" && rhythm.period_s) {
        const onS = rhythm.on_s || rhythm.period_s / 2;
        const phase = ((now % rhythm.period_s) + rhythm.period_s) % rhythm.period_s;
        lit = phase < onS;
      }
      const value = lit ? "1" : "0";
      if (ready.dataset.lit !== value) {
        ready.dataset.lit = value;
        if (lit) ready.dataset.pulses = String(Number(ready.dataset.pulses || "0") + 1);
      }
      if (this.held && this.since !== null) {
        this.part("hold").textContent = `held ${Math.max(0, now - this.since).toFixed(2)} s`;
        this.part("hold").dataset.held = Math.max(0, now - this.since).toFixed(3);
      }
    }

    // -- events --------------------------------------------------------------------------

    onEvent(ev) {
      if (ev.event === "blink") {
        this.lastBlink = ev.time;
        this.blinks = ev.count;
        const node = this.part("blinks");
        node.dataset.count = String(ev.count);
        node.textContent = `${ev.count} blink${ev.count === 1 ? "" : "s"}`;
      }
      if (ev.event === "led") this.update({ ...this.device, led: ev.led });
      if (ev.event === "mode") this.update({ ...this.device, mode: ev.mode });
      const item = el("li", { "data-event": ev.event },
        el("span", { class: "t", text: ev.time.toFixed(3) }), " ", describe(ev));
      this.timelineList.prepend(item);
      while (this.timelineList.children.length > TIMELINE_KEEP) this.timelineList.lastChild.remove();
      this.flashSoon();
    }

    say(text) {
      this.notice.textContent = text;
      this.notice.hidden = !text;
    }

    // -- the reset button ----------------------------------------------------------------

    wireButton() {
      const b = this.button;
      // Pointer events: a mouse, a pen or a finger. A tap goes down when the finger
      // touches (touch-action: none keeps the browser from taking it for a scroll), and the
      // capture keeps the press on the button until the pointer goes up or is lost.
      b.addEventListener("pointerdown", (e) => {
        if (e.button !== 0 || this.pointer !== null) return;
        this.pointer = e.pointerId;
        try {
          b.setPointerCapture(e.pointerId);
        } catch (exc) {
          // The pointer is gone already: pointerup or pointercancel follows.
        }
        this.press();
      });
      const letGo = (e) => {
        if (e.pointerId !== this.pointer) return;
        this.pointer = null;
        this.release();
      };
      b.addEventListener("pointerup", letGo);
      b.addEventListener("pointercancel", letGo);
      b.addEventListener("lostpointercapture", letGo);
      // The pointer moved off the button while down lets it go (capture keeps the events
      // here, so the button asks where the pointer is).
      b.addEventListener("pointermove", (e) => {
        if (e.pointerId !== this.pointer) return;
        const box = b.getBoundingClientRect();
        const inside =
          e.clientX >= box.left && e.clientX <= box.right && e.clientY >= box.top && e.clientY <= box.bottom;
        if (!inside) {
          letGo(e);
          b.releasePointerCapture(e.pointerId);
        }
      });
      // A long touch would open the context menu and cancel the pointer.
      b.addEventListener("contextmenu", (e) => e.preventDefault());
      b.addEventListener("keydown", (e) => {
        if (e.key === " " || e.key === "Enter") {
          e.preventDefault();
          if (!e.repeat) this.press();
        }
      });
      b.addEventListener("keyup", (e) => {
        if (e.key === " " || e.key === "Enter") {
          e.preventDefault();
          this.release();
        }
      });
      b.addEventListener("blur", () => this.release());
      // A tab left while holding it, or hidden, lets go; a page going away lets go with a
      // request that outlives it.
      window.addEventListener("blur", () => this.release());
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "hidden") this.release();
      });
      window.addEventListener("pagehide", () => this.releaseOnLeaving());
    }

    // Button requests go one after the other: a release waits for its press's reply.
    enqueue(step) {
      this.queue = this.queue.then(step, step);
      return this.queue;
    }

    press() {
      if (this.held || this.button.disabled) return;
      // Each press has its number: what an older press's replies do never touches a newer.
      const number = ++this.presses;
      this.held = true;
      this.since = null;
      this.down = false;
      this.blinks = 0;
      this.lastBlink = null;
      const blinks = this.part("blinks");
      blinks.dataset.count = "0";
      blinks.textContent = "0 blinks";
      this.root.dataset.button = "down";
      this.button.classList.add("down");
      const hold = this.part("hold");
      hold.textContent = "held 0.00 s";
      hold.dataset.held = "0";
      delete hold.dataset.released;
      delete hold.dataset.adopted;
      this.enqueue(async () => {
        try {
          const reply = await api("POST", devicePath(this.name, "/button"), { down: true });
          this.since = reply.button.since;
          this.down = true;
          seeTime(reply.button.since);
          this.say("");
        } catch (exc) {
          if (exc.status === 409 && /already held/.test(exc.message)) {
            // Held by another page, or by this one before a reload: this press takes it
            // over, and its release lets it go.
            this.down = true;
            if (number === this.presses) {
              hold.textContent = "held (pressed before this page): let go to release it";
              hold.dataset.adopted = "1";
            }
            this.say("");
            return;
          }
          if (number !== this.presses) return;
          this.held = false;
          this.root.dataset.button = "up";
          this.button.classList.remove("down");
          this.say(exc.message);
        }
      });
    }

    release() {
      if (!this.held) return;
      const number = this.presses;
      this.held = false;
      this.button.classList.remove("down");
      this.enqueue(async () => {
        if (!this.down) {
          // The press was refused.
          if (number === this.presses) this.root.dataset.button = "up";
          return;
        }
        try {
          const reply = await api("POST", devicePath(this.name, "/button"), { down: false }, true);
          const held = reply.button.held;
          this.lastHeld = held;
          if (number === this.presses) {
            const hold = this.part("hold");
            hold.textContent = `released after ${held.toFixed(2)} s`;
            hold.dataset.held = held.toFixed(3);
            hold.dataset.released = "1";
          }
          this.update(reply);
          this.say("");
        } catch (exc) {
          this.say(exc.message);
        } finally {
          this.since = null;
          this.down = false;
          if (number === this.presses) this.root.dataset.button = "up";
          this.flashSoon();
        }
      });
    }

    // The page goes away (closed, reloaded, navigated) with the button held: the queue
    // will not run, so the release goes now, in a request the browser finishes after the
    // page is gone. Should it come before its press, the next page's press adopts the
    // held button (see press()).
    releaseOnLeaving() {
      if (!this.held) return;
      this.held = false;
      const headers = { Accept: "application/json", "Content-Type": "application/json" };
      const t = token();
      if (t) headers.Authorization = "Bearer " + t;
      fetch(devicePath(this.name, "/button"), {
        method: "POST",
        keepalive: true,
        headers,
        body: JSON.stringify({ down: false }),
      }).catch(() => {});
    }

    // -- the power switch ----------------------------------------------------------------

    togglePower() {
      const on = this.device.mode === "off";
      this.enqueue(async () => {
        try {
          const reply = await api("POST", devicePath(this.name, "/power"), { on });
          this.update(reply);
          this.say("");
        } catch (exc) {
          this.say(exc.message);
        }
        this.flashSoon();
      });
    }

    // -- the console ---------------------------------------------------------------------

    openConsole() {
      if (this.socket !== null && this.socket.readyState <= WebSocket.OPEN) return;
      if (this.term === null) {
        this.term = new window.Terminal({
          cols: 80,
          rows: 14,
          convertEol: false,
          cursorBlink: true,
          fontSize: 12,
          theme: { background: "#101412", foreground: "#c8e6c9" },
        });
        this.term.open(this.termNode);
        // As many columns as the box holds (the device's lines wrap past them).
        if (window.FitAddon) {
          const fit = new window.FitAddon.FitAddon();
          this.term.loadAddon(fit);
          const refit = () => {
            try {
              fit.fit();
            } catch (exc) {
              // Not laid out yet: the next resize fits it.
            }
          };
          refit();
          window.addEventListener("resize", refit);
        }
        this.term.onData((data) => {
          if (this.socket !== null && this.socket.readyState === WebSocket.OPEN) this.socket.send(data);
        });
      }
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      const url = `${scheme}//${window.location.host}${withToken(devicePath(this.name, "/console/ws"))}`;
      const socket = new WebSocket(url);
      socket.binaryType = "arraybuffer";
      this.socket = socket;
      this.consoleButton.hidden = true;
      this.consoleStatus.textContent = "connecting";
      this.consoleStatus.dataset.state = "connecting";
      socket.addEventListener("open", () => {
        this.consoleStatus.textContent = "connected: type here (a login of its own)";
        this.consoleStatus.dataset.state = "open";
      });
      socket.addEventListener("message", (e) => {
        this.term.write(typeof e.data === "string" ? e.data : new Uint8Array(e.data));
      });
      socket.addEventListener("close", (e) => {
        if (this.socket !== socket) return;
        const why = e.reason ? `: ${e.reason}` : e.code === 1000 ? "" : ` (code ${e.code})`;
        this.consoleStatus.textContent = `console closed${why}`;
        this.consoleStatus.dataset.state = "closed";
        this.consoleButton.hidden = false;
      });
    }

    // The console's text as the terminal holds it, scrollback included.
    consoleText() {
      if (this.term === null) return "";
      const buffer = this.term.buffer.active;
      const lines = [];
      for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
      return lines.join("\n");
    }

    // -- the flash -----------------------------------------------------------------------

    flashSoon() {
      if (this.flashTimer !== null) return;
      this.flashTimer = setTimeout(() => {
        this.flashTimer = null;
        this.refreshFlash();
      }, 250);
    }

    async refreshFlash() {
      try {
        const flash = await api("GET", devicePath(this.name, "/flash"));
        this.drawFlash(flash);
      } catch (exc) {
        this.flashBox.replaceChildren(el("h3", { text: "flash" }), el("p", { class: "bad", text: exc.message }));
      }
    }

    drawFlash(flash) {
      const box = this.flashBox;
      const parts = [el("h3", { text: `flash: ${bytes(flash.size)}, ${flash.sectors} sectors of ${bytes(flash.sector_size)}` })];
      // The regions, each filled as far as it is used. Widths grow with the square root
      // of the size, so that the small regions (boot code, config, vars) stay readable
      // beside the firmware and the flash directory.
      const bar = el("div", { class: "regions", "data-part": "regions" });
      for (const region of flash.regions) {
        const used = region.size ? Math.min(1, region.used_bytes / region.size) : 0;
        const cell = el("div", {
          class: "region",
          "data-region": region.name,
          style: `flex-grow: ${Math.sqrt(region.size).toFixed(1)}`,
          title: `${region.name}: ${hex(region.offset)}, ${bytes(region.size)}, sectors ` +
            `${region.first_sector}-${region.first_sector + region.sector_count - 1}, ` +
            `${bytes(region.used_bytes)} used`,
        }, el("div", { class: "used", style: `width: ${(used * 100).toFixed(2)}%` }),
          el("span", { class: "region-name", text: region.name }));
        bar.append(cell);
      }
      parts.push(bar);
      // The config ring: its generations, the newest, and the erased tail.
      const ring = flash.ring;
      const ringRegion = flash.regions.find((r) => r.name === ring.region);
      if (ringRegion) {
        const size = ringRegion.size;
        // Ring offsets are in the region (a record that wraps runs past its end).
        const rel = (offset) => offset % size;
        // The ring as a strip: the bytes from 0 to span (the whole ring, or its start
        // enlarged), each stretch placed in proportion.
        const drawRing = (span, part) => {
          const strip = el("div", { class: "ring", "data-part": part });
          const place = (cls, start, length, attrs) => {
            // A stretch that runs past the ring's end goes on at its start.
            const first = Math.min(length, size - start);
            const pieces = [[start, first]];
            if (length > first) pieces.push([0, length - first]);
            for (const [at, len] of pieces) {
              if (at >= span) continue;
              const shown = Math.min(len, span - at);
              strip.append(el("div", {
                class: cls,
                style: `left: ${((at / span) * 100).toFixed(3)}%; ` +
                  `width: ${((shown / span) * 100).toFixed(3)}%`,
                ...attrs,
              }));
            }
          };
          if (ring.erased_tail > 0) {
            place("erased", rel(ring.write_pointer), ring.erased_tail, {
              "data-part": "erased-tail",
              title: `erased tail: ${bytes(ring.erased_tail)} from ${hex(ring.write_pointer)}`,
            });
          }
          for (const gen of ring.generations) {
            const newest = gen.number === ring.newest;
            place(newest ? "generation newest" : "generation", rel(gen.offset), gen.length, {
              "data-part": "generation",
              "data-generation": gen.number,
              title: `generation ${gen.number}${newest ? " (newest)" : ""}: ` +
                `${hex(gen.offset)}, ${bytes(gen.length)}`,
            });
          }
          if (rel(ring.write_pointer) < span) {
            strip.append(el("div", {
              class: "write-pointer",
              style: `left: ${((rel(ring.write_pointer) / span) * 100).toFixed(3)}%`,
              title: `write pointer ${hex(ring.write_pointer)}`,
            }));
          }
          return strip;
        };
        parts.push(drawRing(size, "ring"));
        // Everything written so far in the ring's first eighth: that part again, enlarged
        // (the records are small beside the region).
        const ends = ring.generations.map((g) => g.offset + g.length);
        const used = Math.max(rel(ring.write_pointer), ...ends);
        if (used > 0 && used < size / 8) {
          const span = Math.min(size, Math.max(256, Math.ceil(used * 1.25)));
          parts.push(el("div", { class: "zoom-label", text: `the ring's first ${bytes(span)}, enlarged:` }));
          parts.push(drawRing(span, "ring-zoom"));
        }
        // The generations one by one, oldest first: in a large ring each is a sliver.
        const chips = el("div", { class: "generations", "data-part": "generations" });
        for (const gen of ring.generations) {
          const newest = gen.number === ring.newest;
          chips.append(el("span", {
            class: newest ? "chip newest" : "chip",
            title: `at ${hex(gen.offset)} in the ring, ${bytes(gen.length)}`,
            text: `#${gen.number} ${bytes(gen.length)}${newest ? " newest" : ""}`,
          }));
        }
        parts.push(chips);
        parts.push(el("div", { class: "legend" },
          el("span", { class: "key generation-key" }), "generation ",
          el("span", { class: "key newest-key" }), "newest ",
          el("span", { class: "key erased-key" }), "erased tail ",
          el("span", { class: "key pointer-key" }), "write pointer ",
          el("span", { class: "key other-key" }), "neither (records the ring passed over, torn bits)"));
        const gens = ring.generations.length;
        parts.push(el("p", { class: "ring-text", "data-part": "ring-text" },
          `config ring: ${gens} generation${gens === 1 ? "" : "s"}` +
          (ring.newest === null ? "" : `, newest ${ring.newest}`) +
          `, erased tail ${bytes(ring.erased_tail)}` +
          (ring.torn ? ", a torn record at the write pointer" : "")));
      }
      // Wear: erase count per sector as a heat strip.
      const most = Math.max(1, ...flash.wear);
      const wear = el("div", { class: "wear", "data-part": "wear", title: `erases per sector (most: ${most})` });
      flash.wear.forEach((count, sector) => {
        const heat = count / most;
        wear.append(el("span", {
          class: "sector",
          "data-erases": count,
          style: count ? `background: hsl(${(50 - 50 * heat).toFixed(0)}, 95%, ${(60 - 20 * heat).toFixed(0)}%)` : "",
          title: `sector ${sector}: ${count} erase${count === 1 ? "" : "s"}`,
        }));
      });
      parts.push(el("div", { class: "wear-label" }, `wear (erases per sector, most ${Math.max(0, ...flash.wear)}), ${flash.operations} operations`), wear);
      const cut = flash.last_cut;
      parts.push(el("p", { class: cut ? "cut bad" : "cut muted", "data-part": "last-cut" },
        cut
          ? `last power cut: ${cut.mode} at operation ${cut.at_op}, during ${cut.operation} at ` +
            `${hex(cut.address)}${cut.detail ? ` (${cut.detail})` : ""}` +
            (cut.device_time === null || cut.device_time === undefined ? "" : `, device time ${cut.device_time.toFixed(3)} s`)
          : "no power cut"));
      box.replaceChildren(...parts);
      box.dataset.generations = ring ? String(ring.generations.length) : "0";
      box.dataset.cut = cut ? "1" : "0";
    }
  }

  // -- the page --------------------------------------------------------------------------

  function frame() {
    const now = deviceNow();
    if (page.clockNow !== null) document.getElementById("clock-now").textContent = now.toFixed(1);
    for (const panel of page.panels.values()) panel.draw(now);
    requestAnimationFrame(frame);
  }

  function watch() {
    if (page.source !== null) page.source.close();
    const source = new EventSource(withToken("/v1/watch"));
    page.source = source;
    source.addEventListener("hello", (e) => {
      const hello = JSON.parse(e.data);
      setClock(hello.clock);
      page.retryDelay = 1000;
      delete document.body.dataset.retryMs;
      setLink("live", "ok");
      showPageError("");
      // Back after a break: what changed meanwhile came in no event.
      if (source.seenHello) resync();
      source.seenHello = true;
    });
    source.addEventListener("device-event", (e) => {
      const ev = JSON.parse(e.data);
      seeTime(ev.time);
      const panel = page.panels.get(ev.device);
      if (panel) panel.onEvent(ev);
    });
    source.addEventListener("state", (e) => {
      const device = JSON.parse(e.data);
      const panel = page.panels.get(device.name);
      if (panel) {
        panel.update(device);
        panel.flashSoon();
      }
    });
    source.addEventListener("error", () => {
      if (page.source !== source) return;
      if (source.readyState === EventSource.CLOSED) {
        // Refused (a token?) or not a stream: status says which, and starts it again,
        // after a while.
        setLink("the event stream was refused", "bad");
        source.close();
        page.source = null;
        retryLater();
        return;
      }
      // The browser tries again by itself; whether the runtime is still there, status says.
      setLink("reconnecting", "bad");
      if (page.probing) return;
      page.probing = true;
      api("GET", "/v1/status")
        .then(() => showPageError(""))
        .catch((exc) => {
          if (exc.status === 0) {
            setLink("the runtime does not answer", "bad");
            showPageError(`${exc.message}: stopped? The page follows it again when it is back.`);
          }
        })
        .finally(() => {
          page.probing = false;
        });
    });
  }

  async function resync() {
    try {
      const status = await api("GET", "/v1/status");
      for (const device of status.devices) {
        const panel = page.panels.get(device.name);
        if (panel) {
          panel.update(device);
          panel.flashSoon();
        }
      }
    } catch (exc) {
      showPageError(exc.message);
    }
  }

  async function start() {
    showPageError("");
    let status;
    try {
      status = await api("GET", "/v1/status");
    } catch (exc) {
      if (exc.status !== 401) {
        showPageError(exc.message);
        setLink("the runtime does not answer", "bad");
        retryLater();
      }
      return;
    }
    setClock(status.clock);
    const net = status.network;
    if (net && net.port) {
      document.getElementById("network").textContent =
        `${net.kind}, gwload /port ${net.port} /bcast ${net.broadcast}`;
    }
    const desk = document.getElementById("devices");
    for (const device of status.devices) {
      const known = page.panels.get(device.name);
      if (known) {
        known.update(device);
        continue;
      }
      const panel = await api("GET", devicePath(device.name, "/panel"));
      const view = new Panel(device, panel);
      page.panels.set(device.name, view);
      desk.append(view.root);
    }
    document.body.dataset.devices = String(page.panels.size);
    watch();
  }

  // start() again after a wait that doubles each time (1 s to 30 s): a runtime that
  // answers /v1/status but refuses the stream is not asked in a loop. The token form
  // starts it again by itself.
  function retryLater() {
    if (page.retryTimer !== null || page.asking) return;
    const wait = page.retryDelay;
    page.retryDelay = Math.min(page.retryDelay * 2, 30000);
    document.body.dataset.retryMs = String(wait);
    page.retryTimer = setTimeout(() => {
      page.retryTimer = null;
      begin();
    }, wait);
  }

  function begin() {
    start().catch((exc) => {
      showPageError(exc.message);
      retryLater();
    });
  }

  takeFragmentToken();
  setupTokenForm();
  requestAnimationFrame(frame);
  begin();
  // For tests and the screenshots: the page's state, read-only.
  window.ipgwsimPanel = {
    deviceNow,
    consoleText: (name) => (page.panels.has(name) ? page.panels.get(name).consoleText() : ""),
  };
})();
