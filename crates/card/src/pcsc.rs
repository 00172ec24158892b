//! Real readers through PC/SC (pcsc-lite on Linux, WinSCard on Windows, PCSC.framework on
//! macOS). Built only with the cargo feature `pcsc`.

use crate::transport::{Card, CardError};
use pcsc::{Context, Protocols, Scope, ShareMode, MAX_BUFFER_SIZE_EXTENDED};
use std::ffi::CString;

/// A card in a PC/SC reader, connected exclusively (a verified PIN stays in effect until the
/// card leaves the field, so no other application may share the session). Dropping it
/// disconnects with a card reset, which drops the PIN-verified state.
pub struct PcscCard {
    card: pcsc::Card,
    reader: String,
}

impl std::fmt::Debug for PcscCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscCard")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

impl PcscCard {
    /// The names of the readers PC/SC knows, cards or not.
    pub fn list_readers() -> Result<Vec<String>, CardError> {
        let context = establish()?;
        readers(&context)
    }

    /// Connects to the card in `reader`, or with `None` to the first reader that has a card.
    pub fn connect(reader: Option<&str>) -> Result<PcscCard, CardError> {
        let context = establish()?;
        let names = match reader {
            Some(name) => vec![name.to_owned()],
            None => readers(&context)?,
        };
        if names.is_empty() {
            return Err(CardError::NoReader);
        }
        let mut last_error = CardError::NoCard;
        for name in names {
            let c_name = CString::new(name.as_bytes())
                .map_err(|_| CardError::Transport(format!("reader name {name:?} contains NUL")))?;
            match context.connect(&c_name, ShareMode::Exclusive, Protocols::ANY) {
                Ok(card) => return Ok(PcscCard { card, reader: name }),
                Err(e) => last_error = map_error(e),
            }
        }
        Err(last_error)
    }

    /// The reader this card is in.
    pub fn reader(&self) -> &str {
        &self.reader
    }
}

impl Card for PcscCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        let mut buffer = vec![0u8; MAX_BUFFER_SIZE_EXTENDED];
        let response = self.card.transmit(apdu, &mut buffer).map_err(map_error)?;
        Ok(response.to_vec())
    }
}

fn establish() -> Result<Context, CardError> {
    Context::establish(Scope::User).map_err(map_error)
}

fn readers(context: &Context) -> Result<Vec<String>, CardError> {
    match context.list_readers_owned() {
        Ok(names) => Ok(names
            .into_iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(map_error(e)),
    }
}

fn map_error(e: pcsc::Error) -> CardError {
    use pcsc::Error as E;
    match e {
        // A reset by another application loses the session's security state just like a removal.
        E::RemovedCard | E::ResetCard => CardError::Removed,
        E::NoSmartcard | E::UnpoweredCard | E::UnresponsiveCard => CardError::NoCard,
        E::NoService
        | E::ServiceStopped
        | E::NoReadersAvailable
        | E::UnknownReader
        | E::ReaderUnavailable => CardError::NoReader,
        E::SharingViolation => {
            CardError::Transport("the card is in use by another application".to_owned())
        }
        other => CardError::Transport(other.to_string()),
    }
}
