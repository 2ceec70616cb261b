from services.translate.app import create
from services.translate.settings import TranslateSettings
from shared.service import serve

settings = TranslateSettings()
serve(create(settings), settings)
