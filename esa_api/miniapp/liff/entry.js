// The LIFF SDK as one script: `window.liff` for the Mini App (static/app.js), bundled from npm.
import liff from "@line/liff";

window.liff = liff;
