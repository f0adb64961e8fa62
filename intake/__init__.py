"""The citizen's channels beside the phone: text and pictures, SMS, WebRTC (issue 7)."""
