from services.feeds.app import create
from services.feeds.settings import FeedsSettings
from shared.service import serve

settings = FeedsSettings()
serve(create(settings), settings)
