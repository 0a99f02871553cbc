// The demo's stand-in for the LIFF SDK, with the same interface the Mini App uses (init, isLoggedIn, login,
// getIDToken, getLanguage, isInClient): signing in goes through the LINE simulator's sign-in page, which sends
// the browser back with an ID token that the server verifies at the simulator's /oauth2/v2.1/verify, exactly as
// it verifies a real LIFF token at LINE's. Only used when the server names a sandbox sign-in page.
"use strict";

window.sandboxLiff = function sandboxLiff(loginPageUrl, channelId) {
  const KEY = "esa.sandbox_id_token";
  let idToken = null;
  return {
    async init() {
      const params = new URLSearchParams(location.hash.slice(1));
      const fresh = params.get("id_token");
      if (fresh) {
        const expected = sessionStorage.getItem("esa.login_state");
        params.delete("id_token");
        const st = params.get("state");
        params.delete("state");
        history.replaceState(null, "", location.pathname + (params.toString() ? "#" + params : ""));
        if (st !== expected) throw new Error("state");
        sessionStorage.setItem(KEY, fresh);
      }
      idToken = sessionStorage.getItem(KEY);
    },
    isInClient() { return false; },
    isLoggedIn() { return !!idToken; },
    login({ redirectUri } = {}) {
      const st = crypto.randomUUID();
      sessionStorage.setItem("esa.login_state", st);
      const back = (redirectUri || location.href).split("#")[0];
      const q = new URLSearchParams({ redirect_uri: back, client_id: channelId || "", state: st });
      location.assign(loginPageUrl + "?" + q);
    },
    logout() { sessionStorage.removeItem(KEY); idToken = null; },
    getIDToken() { return idToken; },
    getLanguage() { return navigator.language || "id"; },
  };
};
