"""Dream requests: people mention the bot with a photo and class names and get the dream back.

listen.py reads mentions (persisted cursor, what to ignore), parse.py reads the status HTML
and the class names, worker.py takes each request through render (dreaming.py) and reply,
replies.py says it, client.py makes the Mastodon calls requests need (through
bot/publishers/mastodon_api.py, as the publisher does), settings.py what the worker takes from
the config. remix.py reads a reply to one of the bot's own posts ("again", "more stingray",
"dive"...) as a request to dream that post's photo again.
"""
