"""Where dreams are posted: base.py is the `Publisher` protocol, outbox.py (with gallery.py) a
local web page, mastodon.py a Mastodon status through mastodon_api.py (the one Mastodon API
module, also used by dream requests; its one transport in mastodon_transport.py, status text
and limits in mastodon_text.py), tumblr.py a
Tumblr NPF post (body in tumblr_npf.py). errors.py maps an HTTP status to a `PublishError` for
every platform; ratelimit.py, media.py and marker.py are shared helpers."""
