"""The window of one workstation: login, then the workspace of the person's role."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QToolBar,
    QWidget,
)

from app import secrets
from app.bridge import CoreBridge
from app.calls import Answering, Calling
from app.closing import SendingAfterClose, stopper
from app.desklock import DeskLocking
from app.gui import install_qt_translations
from app.i18n import LANGUAGES, _, language, set_language
from app.messages import busy_text, connection_state, human_size, reason
from app.session import Session
from app.tasks import TaskRunner
from cases.cardidentity import card_ids
from cases.profile import Profile, ProfileError, UnlockedIdentity
from cases.profilelock import ProfileBusy
from crypto.errors import CryptoError
from widgets.activity import ActivityReport
from widgets.background import BackgroundSending, sends_in_progress
from widgets.cardsetup import CardSetupDialog, open_card_setup
from widgets.doctor import DoctorWorkspace, error_text
from widgets.geometry import DEFAULT_WINDOW, restore_geometry
from widgets.lock import DEFAULT_LOCK_MINUTES, IdleWatch, LockPage
from widgets.login import LoginPage
from widgets.secretary import SecretaryWorkspace
from widgets.specialist import SpecialistWorkspace

log = logging.getLogger(__name__)

REFRESH_DELAY_MS = 200
"""How long the window waits for more core events before it reads the person's list again."""


class MainWindow(QMainWindow, DeskLocking, SendingAfterClose):
    """One profile's window. Owns the profile's :class:`Session` and stops it on close."""

    def __init__(
        self, root: Path, *, poll_interval: float = 5.0, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.root = root
        self.poll_interval = poll_interval
        self.runner = TaskRunner(self)
        self.bridge = CoreBridge(self)
        self.session: Session | None = None
        self.me: UnlockedIdentity | None = None
        self.workspace: QWidget | None = None
        self._states: dict[str, str] = {}
        self._last_status: object | None = None  # the platform's, for a queue opened later
        self.pages = QStackedWidget()
        self.setCentralWidget(self.pages)
        self.refused = QLabel()  # what the inbox left on the platform, and who sent it
        self.refused.setStyleSheet("color: #a40000;")
        self.refused.setVisible(False)
        self.statusBar().addPermanentWidget(self.refused)
        self.connection = QLabel()
        self.statusBar().addPermanentWidget(self.connection)
        self.settings = QSettings(str(root / "window.ini"), QSettings.Format.IniFormat)
        self.locked = False
        self._hidden: list[QWidget] = []  # the window's other windows, hidden while locked
        self.lock_page = LockPage(self)  # joins the pages at the first lock
        self.lock_page.hide()
        self.lock_page.unlock_requested.connect(self._unlock)
        self.lock_page.switch_requested.connect(self._switch_person)
        self.profile: Profile | None = None
        self._build_menus()
        minutes = self.settings.value("lock/minutes", DEFAULT_LOCK_MINUTES)
        try:
            self.lock_minutes = max(0, int(minutes))  # type: ignore[call-overload]
        except (TypeError, ValueError):
            self.lock_minutes = DEFAULT_LOCK_MINUTES
        self._refresh_soon = QTimer(self)
        self._refresh_soon.setSingleShot(True)
        self._refresh_soon.setInterval(REFRESH_DELAY_MS)
        self._refresh_soon.timeout.connect(self._refresh_now)
        self.idle = IdleWatch(self, 0)  # armed at each login
        self.idle.idle.connect(self.lock)
        self.idle.lock_keys.connect(self.lock)
        self.background: BackgroundSending | None = None  # sends going on once closed
        self._ending = False
        self._busy = False  # another process has the profile open
        self.answering: Answering | None = None  # this one has, and hears a second start
        self._open_profile()
        self.card_action.setEnabled(self.profile is not None)
        self._stopped = {"done": False}
        self.destroyed.connect(stopper(self.session, self.bridge, self._stopped))
        self.setWindowTitle(self._title())
        # what it remembers (or 1200×800), within the screen it opens on
        restore_geometry(self, self.settings.value("geometry", b""), DEFAULT_WINDOW)

    # --- set-up ---------------------------------------------------------------------------
    def _open_profile(self) -> None:
        try:
            profile = Profile(self.root)
            if not profile.exists():
                self._show_message(
                    _("Ce poste n’est pas encore configuré.")
                    + "\n\n"
                    + _(
                        "Dossier du profil : {path}\nPour essayer Passavant : passavant demo"
                    ).format(path=self.root)
                )
                return
            self.session = Session(profile, poll_interval=self.poll_interval)
        except ProfileBusy as exc:  # a second window, or a command that repairs the queue
            log.warning("profile %s is busy: %s", self.root, exc)
            self._show_message(busy_text(exc.holder) + f"\n\n{self.root}")
            self._busy = True
            if exc.holder == "app":  # the first window comes forward, and this one goes
                try:
                    Calling(self.root, self).answered.connect(self.close)
                except OSError as call_exc:
                    log.warning("cannot call the window holding %s: %s", self.root, call_exc)
            return
        except (ProfileError, OSError) as exc:
            log.error("cannot open profile %s: %s", self.root, exc)
            self._show_message(reason("profile_error") + f"\n\n{self.root}")
            return
        self.profile = profile
        self.bridge.keep(self.session.sender.subscribe(self.bridge.job_changed.emit))
        self.bridge.keep(self.session.fetcher.subscribe(self.bridge.inbox_received.emit))
        self.bridge.keep(self.session.fetcher.subscribe_status(self.bridge.status_changed.emit))
        self.bridge.job_changed.connect(self._job_changed)
        self.bridge.inbox_received.connect(lambda item: self._refresh_workspace())
        self.bridge.status_changed.connect(self._status_changed)
        self.session.start()
        self.answering = Answering(self.root, self)  # Passavant started again on it
        self.answering.called.connect(self.come_forward)
        self.login = self._login_page(profile)
        self.pages.addWidget(self.login)

    def _login_page(self, profile: Profile) -> LoginPage:
        hint = ""
        if profile.demo:
            from app.demo import DEMO_PASSPHRASE

            hint = _("Démonstration : le mot de passe est « {p} ».").format(p=DEMO_PASSPHRASE)
        orgs = sorted({i.organization for i in profile.identities()})
        page = LoginPage(
            profile.identities(), title=", ".join(orgs), hint=hint, cards=card_ids(profile)
        )
        page.login_requested.connect(self._log_in)
        page.card_setup_requested.connect(self.open_card_setup)
        return page

    def open_card_setup(self) -> CardSetupDialog | None:
        """The card registration screen, from the login page or the "Fichier" menu (a doctor
        logged in with a passphrase who receives a CPS card stays logged in); the login page
        then lists the new identity. None on a locked window: only its person comes back."""
        if self.profile is None or self.locked:
            return None

        def registered(identity_id: str) -> None:
            self._rebuild_login()
            self.login.select(identity_id)
            if self.me is not None:  # the card is for the next login
                self.statusBar().showMessage(
                    _("Carte enregistrée : choisissez-la à la prochaine connexion.")
                )

        return open_card_setup(self.profile, self, registered)

    def _rebuild_login(self) -> None:
        if self.profile is not None:
            showing = self.pages.currentWidget() is self.login
            old, self.login = self.login, self._login_page(self.profile)
            self.pages.insertWidget(self.pages.indexOf(old), self.login)
            self.pages.removeWidget(old)
            old.deleteLater()
            if showing:
                self.pages.setCurrentWidget(self.login)

    def _title(self) -> str:
        profile = self.profile
        if profile is None:
            return "Passavant"
        orgs = {i.organization for i in profile.identities()}
        return "Passavant — " + (", ".join(sorted(orgs)) or profile.station_id)

    def _show_message(self, text: str) -> None:
        label = QLabel(text)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pages.addWidget(label)

    def _build_menus(self) -> None:
        before = set(self.findChildren(QAction))
        self._build_menus_now()
        self._menu_actions = set(self.findChildren(QAction)) - before  # replaced on retranslate

    def _build_menus_now(self) -> None:
        file_menu = self.menuBar().addMenu(_("&Fichier"))
        self.lock_action = QAction(_("&Verrouiller le poste"), self)
        self.lock_action.setShortcut(QKeySequence("Ctrl+Shift+L"))
        self.lock_action.setToolTip(
            _("Verrouiller le poste (Ctrl+Maj+L) : rien ne reste affiché, le travail est gardé")
        )
        self.lock_action.setEnabled(False)
        self.lock_action.triggered.connect(self.lock)
        file_menu.addAction(self.lock_action)
        self.logout_action = QAction(_("Se &déconnecter"), self)
        self.logout_action.setEnabled(False)
        self.logout_action.triggered.connect(self.log_out)
        file_menu.addAction(self.logout_action)
        toolbar = QToolBar(_("Poste"), self)
        toolbar.setObjectName("desk")
        toolbar.setMovable(False)
        toolbar.addAction(self.lock_action)
        self.addToolBar(toolbar)
        self.activity_action = QAction(_("&Bilan d’activité…"), self)
        self.activity_action.setShortcut(QKeySequence("Ctrl+Shift+B"))
        self.activity_action.setEnabled(False)
        self.activity_action.triggered.connect(self.show_activity)
        file_menu.addAction(self.activity_action)
        self.card_action = QAction(_("Enregistrer une &carte CPS sur ce poste…"), self)
        self.card_action.setEnabled(self.profile is not None and not self.locked)
        self.card_action.triggered.connect(self.open_card_setup)
        file_menu.addSeparator()
        file_menu.addAction(self.card_action)
        file_menu.addSeparator()
        quit_action = QAction(_("&Quitter"), self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        lang_menu = self.menuBar().addMenu(_("&Langue"))
        group = QActionGroup(self)
        for code, name in LANGUAGES.items():
            action = QAction(name, self, checkable=True)
            action.setChecked(code == language())
            action.triggered.connect(lambda _checked=False, c=code: self._set_language(c))
            group.addAction(action)
            lang_menu.addAction(action)
        help_menu = self.menuBar().addMenu(_("&Aide"))
        about = QAction(_("À &propos de Passavant"), self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

    # --- login ----------------------------------------------------------------------------
    def _log_in(self, identity_id: str, passphrase: str) -> None:
        """Unlock ``identity_id`` with the passphrase typed: the one proof that its person is
        at the desk. Nothing remembered ever stands in for it (a passphrase an earlier
        version kept in the keyring is erased at the next login)."""
        assert self.profile is not None
        profile = self.profile
        if not passphrase:
            self.login.show_error(_("Saisissez votre mot de passe."))
            return
        self.login.set_busy(True)

        def done(me: UnlockedIdentity) -> None:
            self.login.reset()
            self.runner.run(lambda: secrets.forget(profile.station_id, identity_id))
            self.show_workspace(me)

        def failed(exc: BaseException) -> None:
            self.login.set_busy(False)
            self.login.show_error(
                error_text(exc)
                if isinstance(exc, CryptoError | ProfileError)
                else reason("unexpected")
            )

        session = self.session
        unlock = session.unlock if session is not None else profile.unlock
        self.runner.run(lambda: unlock(identity_id, passphrase.encode()), done, failed)

    def show_workspace(self, me: UnlockedIdentity) -> None:
        assert self.session is not None
        self.me = me
        if me.info.role == "doctor":
            self.workspace = DoctorWorkspace(self.session, me, self.runner)
        elif me.info.role == "specialist":
            self.workspace = SpecialistWorkspace(self.session, me, self.runner)
        else:
            self.workspace = SecretaryWorkspace(self.session, self.runner)
            if self._last_status is not None:  # what the status bar says, the queue says too
                self._status_changed(self._last_status)
        self.pages.addWidget(self.workspace)
        self.pages.setCurrentWidget(self.workspace)
        self.workspace.setFocus()  # its focus proxy: the list of cases, or the queue
        self.logout_action.setEnabled(True)
        self.lock_action.setEnabled(True)
        self.activity_action.setEnabled(
            isinstance(self.workspace, DoctorWorkspace | SpecialistWorkspace)
        )
        self.statusBar().showMessage(_("Connecté : {name}").format(name=me.info.display_name))
        self.idle.set_interval(self.lock_minutes * 60_000)

    def log_out(self) -> None:
        """Forget the unlocked key and go back to the login page (what was being written is
        kept among the drafts first)."""
        self._leave_workspace()
        self.idle.stop()
        for window in self._hidden:
            window.close()
        self._hidden, self.locked = [], False
        if self.workspace is not None:
            self.pages.removeWidget(self.workspace)
            self.workspace.deleteLater()
        if self.session is not None and self.me is not None:
            self.session.workstation.forget(self.me)  # the case store's memory goes too
        self.workspace, self.me = None, None
        self.logout_action.setEnabled(False)
        self.lock_action.setEnabled(False)
        self.activity_action.setEnabled(False)
        self.setWindowTitle(self._title())
        self.pages.setCurrentWidget(self.login)
        self.statusBar().clearMessage()
        count = sends_in_progress(self.session.outbox) if self.session is not None else 0
        if count:  # logging out stops no send: say so
            self.statusBar().showMessage(
                _("{n} envoi(s) en cours : ils continuent.").format(n=count)
            )

    # --- core events ----------------------------------------------------------------------
    def _job_changed(self, job: object) -> None:
        if isinstance(self.workspace, SecretaryWorkspace):
            self.workspace.job_changed(job)  # type: ignore[arg-type]
        state, bundle_id = getattr(job, "state", ""), getattr(job, "bundle_id", "")
        if self._states.get(bundle_id) != state:
            self._states[bundle_id] = state
            if getattr(job, "kind", "") != "receipt":  # a request or an opinion moved on
                self._refresh_workspace()

    def _refresh_workspace(self) -> None:
        """Read the person's list again soon: the events of a burst (ten jobs moving on,
        several bundles arriving) make one refresh."""
        if not self._refresh_soon.isActive():
            self._refresh_soon.start()

    def _refresh_now(self) -> None:
        if self.locked:
            return  # nothing is shown; the list is read again at unlock
        if isinstance(self.workspace, DoctorWorkspace | SpecialistWorkspace):
            self.workspace.refresh()

    def _status_changed(self, status: object) -> None:
        self._last_status = status
        reachable = bool(getattr(status, "reachable", False))
        code = getattr(status, "error_code", None)
        when = (
            getattr(status, "last_success_at", None)
            if reachable
            else getattr(status, "last_failure_at", None)
        )
        self._show_refused(getattr(status, "refused", ()))
        self.connection.setText(connection_state(reachable, code))
        self.connection.setStyleSheet("color: #1a6b1a;" if reachable else "color: #a40000;")
        if isinstance(self.workspace, SecretaryWorkspace):
            self.workspace.status_changed(reachable, code, when)

    def _show_refused(self, refused: tuple[object, ...]) -> None:
        """The bundles the inbox did not take (too large, or no room left), with the station
        that sent them: no clinical content, the platform's listing only."""
        self.refused.setVisible(bool(refused))
        if not refused:
            return
        stations = sorted({str(getattr(item, "sender_station", "")) or "?" for item in refused})
        self.refused.setText(
            _("{n} envoi(s) reçu(s) refusé(s) par ce poste (de {stations})").format(
                n=len(refused), stations=", ".join(stations)
            )
        )
        self.refused.setToolTip(
            "\n".join(
                f"{getattr(item, 'sender_station', '?')} — {human_size(getattr(item, 'size', 0))}"
                f" — {reason(str(getattr(item, 'code', '')))}"
                for item in refused
            )
        )

    # --- misc -----------------------------------------------------------------------------
    def _set_language(self, code: str) -> None:
        """The interface in ``code`` at once, in every window (and at the next start)."""
        if self.profile is not None:
            self.profile.set_language(code)
        if code == language():
            return
        set_language(code)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            install_qt_translations(app, code)
            for window in app.topLevelWidgets():
                if isinstance(window, MainWindow):
                    window.retranslate()

    def retranslate(self) -> None:
        """Build again, in the current language, what shows text: the menus, the login page
        and the workspace of the person logged in (what they were writing is kept among
        their drafts first, as at logout). A locked window keeps its lock page."""
        for action in self._menu_actions:
            action.setShortcut(QKeySequence())  # now: a shortcut twice would do nothing
            action.setEnabled(False)
            action.deleteLater()
        self.menuBar().clear()
        for toolbar in self.findChildren(QToolBar):
            self.removeToolBar(toolbar)
            toolbar.deleteLater()
        self._build_menus()
        self._rebuild_login()
        me = self.me
        if me is not None and self.workspace is not None and not self.locked:
            self._leave_workspace()
            self.pages.removeWidget(self.workspace)
            self.workspace.deleteLater()
            self.workspace = None
            self.show_workspace(me)
        elif me is not None and not self.locked:
            self.lock_action.setEnabled(True)
            self.logout_action.setEnabled(True)
        self.setWindowTitle(self._title())

    def _about(self) -> None:
        from app.__version__ import VERSION

        QMessageBox.about(
            self,
            _("À propos de Passavant"),
            _(
                "Passavant {v}\nTélé-expertise sécurisée pour les unités sanitaires en milieu "
                "pénitentiaire.\nDemandes signées et chiffrées de bout en bout."
            ).format(v=VERSION),
        )

    def show_activity(self) -> ActivityReport | None:
        """The activity report of the requests the person logged in can open (counts only;
        the secretary, who opens none, has none)."""
        if not isinstance(self.workspace, DoctorWorkspace | SpecialistWorkspace):
            return None
        report = ActivityReport(self.workspace.cases.threads, self)
        session, me = self.session, self.workspace.me
        if session is not None:  # the acts' CSV names patients: journalled, the count only
            report.acts.exported.connect(
                lambda count: session.workstation.audit("acts_exported", me, count=count)
            )
        report.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        report.show()
        return report

    def _leave_workspace(self) -> None:
        if isinstance(self.workspace, DoctorWorkspace | SpecialistWorkspace):
            self.workspace.leave()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._ending and self.session is not None and self.background is None:
            count = sends_in_progress(self.session.outbox)
            if count:  # closing never stops a send: the queue goes on in the background
                event.ignore()
                self._continue_in_background(count)
                return
        if self.background is not None and self.background.active and not self._ending:
            event.ignore()  # already closed once: the window stays away until the queue empties
            self.hide()
            return
        self._leave_workspace()
        if not self._busy:  # the size is the window's that has the profile open
            self.settings.setValue("geometry", self.saveGeometry())
            self.settings.sync()
        self.shutdown()
        super().closeEvent(event)
        app = QApplication.instance()
        last = isinstance(app, QApplication) and not any(
            w.isVisible() for w in app.topLevelWidgets() if w is not self
        )
        if last and isinstance(app, QApplication) and not app.quitOnLastWindowClosed():
            app.quit()  # the last window, after sending in the background

    def shutdown(self) -> None:
        """Stop the workers and the task pool (idempotent)."""
        self._stopped["done"] = True
        self.bridge.detach()
        self.runner.shutdown()
        if self.answering is not None:
            self.answering.stop()
            self.answering = None
        if self.session is not None:
            self.session.stop()
            self.session = None
