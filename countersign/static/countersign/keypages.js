/* The pages' side of the association's key (keyfile.js does the cryptography): the key made
   on the association key page, passkeys added there, a preview grant on the roster page, a
   reseal, the incident report's names and the release's grant, each from the key file
   (read in the page, never sent) or a passkey kept in this browser. */
import { KeyFileError, addPasskey, expectRequest, forgetPasskey, loadKey, makeGrant, makePreview,
  makeReseal, newKey, openIncident, storedSlots, unlockWithPasskey } from "./keyfile.js";

/* --- the association key page: the key made here ----------------------------------------- */

const maker = document.getElementById("key-here");
if (maker && window.crypto && crypto.subtle) {
  maker.hidden = false;
  const status = maker.querySelector("[data-status]");
  maker.querySelector("[data-make-key]").addEventListener("click", async () => {
    const [first, second] = maker.querySelectorAll("[data-passphrase]");
    status.classList.remove("text-danger");
    try {
      if (first.value.length < 12) { throw new KeyFileError(maker.dataset.tooShort); }
      if (first.value !== second.value) { throw new KeyFileError(maker.dataset.differ); }
      const made = await newKey(first.value);
      first.value = second.value = "";
      const link = maker.querySelector("[data-key-link]");
      link.href = URL.createObjectURL(new Blob([made.keyFile], { type: "application/x-pem-file" }));
      link.hidden = false;
      link.click();
      maker.querySelector("[data-recovery]").textContent = made.recovery;
      maker.querySelector("[data-fingerprint]").textContent = made.fingerprint.match(/.{1,4}/g).join(" ");
      maker.querySelector("[data-made]").hidden = false;
      document.getElementById(maker.dataset.publicInput).value = made.publicPem;
    } catch (error) {
      status.classList.add("text-danger");
      status.textContent = error.message;
    }
  });
}

const passkeys = document.getElementById("passkeys-here");
if (passkeys && window.PublicKeyCredential && window.crypto && crypto.subtle) {
  passkeys.hidden = false;
  const status = passkeys.querySelector("[data-status]");
  passkeys.querySelector("[data-add-passkey]").addEventListener("click", async () => {
    const passphrase = passkeys.querySelector("[data-passphrase]");
    try {
      const file = passkeys.querySelector("[data-key-file]").files[0];
      if (!file) { throw new KeyFileError(passkeys.dataset.chooseFile); }
      const key = await loadKey(await file.text(), passphrase.value);
      passphrase.value = "";
      if (key.fingerprint !== passkeys.dataset.fingerprint) {
        throw new KeyFileError(passkeys.dataset.otherKey);
      }
      const made = await addPasskey(key, passkeys.dataset.user, passkeys.querySelector("[data-label]").value);
      const response = await fetch(passkeys.dataset.recordUrl, { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": passkeys.dataset.csrf },
        body: JSON.stringify({ slot: made.slot, fingerprint: made.fingerprint,
          label: passkeys.querySelector("[data-label]").value }) });
      if (!response.ok) { throw new KeyFileError((await response.json()).error || response.statusText); }
      window.location.reload();
    } catch (error) {
      status.textContent = error.message;
    }
  });
  for (const form of document.querySelectorAll("form[data-revoke-slot]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      await forgetPasskey(form.dataset.revokeSlot);
      form.submit();
    });
  }
}

/* --- one way for every page below: the key, then what the page does with it ------------------ */

/* `box`'s button `here` unlocks the key file chosen in the box, its button `passkey` (shown
   when this browser keeps a passkey for the association's key) a passkey; `run(unlock,
   status)` calls `unlock()` when it needs the key. The status says what happens; the
   passphrase is cleared after every try, whatever happened. */
function keyAction(box, { here, passkey, run }) {
  const status = box.querySelector("[data-status]");
  const withPasskey = passkey ? box.querySelector(passkey) : null;
  if (withPasskey && window.PublicKeyCredential && storedSlots(box.dataset.fingerprint).length) {
    withPasskey.hidden = false;
  }
  const act = async (unlock) => {
    const passphrase = box.querySelector("[data-passphrase]");
    status.classList.remove("text-danger");
    status.textContent = box.dataset.working || "…";
    try {
      await run(() => unlock(passphrase), status);
    } catch (error) {
      status.classList.add("text-danger");
      status.textContent = box.dataset.failed.replace("{why}", error.message);
    } finally {
      passphrase.value = "";
    }
  };
  box.querySelector(here).addEventListener("click", () => act(async (passphrase) => {
    const file = box.querySelector("[data-key-file]").files[0];
    if (!file) { throw new KeyFileError(box.dataset.chooseFile); }
    return loadKey(await file.text(), passphrase.value);
  }));
  if (withPasskey) {
    withPasskey.addEventListener("click", () => act(() => unlockWithPasskey(box.dataset.fingerprint)));
  }
}

function madeNow() {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

/* --- the roster page: a preview grant made here --------------------------------------------- */

const previewBox = document.getElementById("preview-here");
if (previewBox && window.crypto && crypto.subtle && window.FormData) {
  previewBox.hidden = false;
  const form = document.getElementById(previewBox.dataset.requestForm);
  keyAction(previewBox, { here: "[data-grant-here]", passkey: "[data-grant-with-passkey]",
    run: async (unlock) => {
      if (!form.reportValidity()) { throw new KeyFileError(previewBox.dataset.fillIn); }
      const key = await unlock();
      const asked = await fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" });
      if (!(asked.headers.get("Content-Type") || "").startsWith("application/json")) {
        window.location.href = asked.url;  // refused: the page says why
        return;
      }
      const request = await asked.json();
      if (String(request.roster) !== previewBox.dataset.roster) { throw new KeyFileError("the request is another roster's"); }
      const answer = await makePreview(request, key, madeNow());
      const body = new FormData();
      body.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
      body.append("answer", new File([JSON.stringify(answer)], "preview.json", { type: "application/json" }));
      const handed = await fetch(form.action, { method: "POST", body, credentials: "same-origin" });
      window.location.href = handed.url;
    } });
}

/* --- the reseal page (the earlier key's file: no passkey keeps a retired key) ---------------- */

const resealBox = document.getElementById("reseal-here");
if (resealBox && window.crypto && crypto.subtle && window.FormData) {
  resealBox.hidden = false;
  keyAction(resealBox, { here: "[data-reseal-here]",
    run: async (unlock) => {
      const key = await unlock();
      const asked = await fetch(resealBox.dataset.requestUrl, { credentials: "same-origin" });
      const answer = await makeReseal(await asked.json(), key, madeNow(), resealBox.dataset.current);
      if (!Object.keys(answer.seals).length) { throw new KeyFileError(resealBox.dataset.none); }
      const body = new FormData();
      body.append("csrfmiddlewaretoken", resealBox.dataset.csrf);
      body.append("reseal", new File([JSON.stringify(answer)], "reseal.json", { type: "application/json" }));
      const handed = await fetch(resealBox.dataset.answerUrl, { method: "POST", body, credentials: "same-origin" });
      window.location.href = handed.url;
    } });
}

/* --- the incident page: the names filled into the table, in this page only -------------------- */

const incident = document.getElementById("incident-here");
if (incident && window.crypto && crypto.subtle) {
  incident.hidden = false;
  keyAction(incident, { here: "[data-open-here]", passkey: "[data-open-with-passkey]",
    run: async (unlock, status) => {
      const key = await unlock();
      const response = await fetch(incident.dataset.bundleUrl, { credentials: "same-origin" });
      const opened = await openIncident(new Uint8Array(await response.arrayBuffer()), key);
      if (String(opened.campaign) !== incident.dataset.campaign) {
        throw new KeyFileError("the report is another campaign's");
      }
      let filled = 0;
      for (const line of document.querySelectorAll("tr[data-member]")) {
        const person = opened.people[line.dataset.member];
        if (!person) { continue; }
        line.querySelector("[data-name]").textContent = person.name;
        line.querySelector("[data-email]").textContent = person.email;
        filled += 1;
      }
      status.textContent = incident.dataset.opened.replace("{count}", filled);
    } });
}

/* --- the release page ---------------------------------------------------------------------- */

const box = document.getElementById("grant-here");
if (box && window.crypto && crypto.subtle && window.DataTransfer) {
  box.hidden = false;
  keyAction(box, { here: "[data-make-grant]", passkey: "[data-grant-with-passkey]",
    run: async (unlock, status) => {
      const key = await unlock();
      const response = await fetch(box.dataset.requestUrl, { credentials: "same-origin" });
      const request = await response.json();
      expectRequest(request, box.dataset);
      const grant = await makeGrant(request, key, madeNow());
      const target = document.getElementById(box.dataset.grantInput);
      const files = new DataTransfer();
      files.items.add(new File([JSON.stringify(grant)], `grant-campaign-${request.campaign}.json`,
        { type: "application/json" }));
      target.files = files.files;
      status.textContent = box.dataset.made.replace("{workers}", request.workers.length)
        .replace("{until}", request.not_after);
    } });
}
